# Two commands set up everything on a fresh machine:  make demo  |  make test
# bpy 5.0.1 and 4.5.15 are on PyPI for Python 3.11 only: python3.11 when there is one that runs, else python3.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(if $(shell python3.11 -c pass 2>/dev/null && echo yes),python3.11,python3)
endif
BPY_PYTHON := 3.11
BPY ?= 5.0.1
LTS_BPY := 4.5.15
# One venv per Blender: .venv for the default 5.0, .venv-bpy<version> for others (make test BPY=4.5.15).
VENV := $(if $(filter 5.0.1,$(BPY)),.venv,.venv-bpy$(BPY))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-bpy-$(BPY)
JOBS ?= 2
# "3.11" from a Python that runs, else nothing. Expanded only in the venv recipe, so other targets don't pay.
PYTHON_VERSION_OF = $(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
NEEDS_PYTHON = bpy $(BPY) needs Python $(BPY_PYTHON) (PyPI has no bpy wheel for others), but PYTHON=$(PYTHON) \
	$(or $(patsubst %,is Python %,$(call PYTHON_VERSION_OF,$(PYTHON))),does not run); install Python $(BPY_PYTHON) and run: \
	make $(or $(MAKECMDGOALS),venv) PYTHON=python$(BPY_PYTHON)

.PHONY: demo test pytest lint format bench venv clean package test-nerfstudio

venv: $(STAMP)

# A venv of another Python (made before Python 3.11 was installed, say) is rebuilt, not reused: no bpy for it.
$(STAMP): VENV_OK = $(filter $(BPY_PYTHON),$(call PYTHON_VERSION_OF,$(PY)))
$(STAMP): requirements-dev.txt
	$(if $(VENV_OK)$(filter $(BPY_PYTHON),$(call PYTHON_VERSION_OF,$(PYTHON))),,$(error $(NEEDS_PYTHON)))
	$(if $(VENV_OK),,rm -rf $(VENV) && $(PYTHON) -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "bpy==$(BPY)" -r requirements-dev.txt
	rm -f $(VENV)/.installed-bpy-*
	touch $@

demo: $(STAMP)
	$(PY) cli.py --demo --out out/demo --overwrite --format nerf,ngp,nerfstudio,colmap \
		--resolution 200x200 --samples 32 --train 60 --val 10 --test 30 --transparent \
		--passes depth,normal,mask --downscales 2

# The whole suite on this BPY; with the default 5.0 it runs again on the 4.5 LTS (blender_version_min).
test: lint pytest
ifeq ($(BPY),5.0.1)
	$(MAKE) --no-print-directory pytest BPY=$(LTS_BPY)
endif

pytest: $(STAMP)
	@echo "== tests on bpy $(BPY)"
	BLENDER_USER_RESOURCES=$(CURDIR)/out/.blender-user-$(BPY) $(PY) -m pytest -n $(JOBS) -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

# Our nerfstudio output through nerfstudio's own dataparser, in its own venv (torch, gsplat, open3d: ~8 GB,
# ~10 minutes to install; open3d needs the system's libusb-1.0). Not part of `make test` for that reason.
NS_VENV := .venv-nerfstudio
test-nerfstudio: $(STAMP)
	test -x $(NS_VENV)/bin/python || $(PYTHON) -m venv $(NS_VENV)
	$(NS_VENV)/bin/python -m pip install -q "nerfstudio==1.1.5" "pytest==9.2.0"
	NERF_DATASET_BPY_PYTHON=$(CURDIR)/$(PY) $(NS_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/consumers

# The installable extension zip, built and validated by the blender_ext.py that ships inside the bpy wheel.
package: $(STAMP)
	$(PY) tools/package.py

bench: $(STAMP)
	$(PY) bench/render_overhead.py
	$(PY) bench/parallel_scaling.py
	$(PY) bench/passes_cost.py
	$(PY) bench/job_costs.py
	$(PY) bench/cloud_costs.py
	$(PY) bench/collection_speed.py
	$(PY) bench/stream_speed.py --frames 256

clean:
	rm -rf out dist
