# The worker image of the container back-ends (kubernetes, gcp-batch): Blender as the bpy module, headless,
# and this add-on in /opt/nerf_dataset. Each task runs `cli.py worker --job DIR`; the engine's index
# variable (JOB_COMPLETION_INDEX, BATCH_TASK_INDEX, ...) picks its shard.
#   docker build -t REGISTRY/nerf-dataset:0.1.0 .
#   docker run --rm -v /path/to/job:/job REGISTRY/nerf-dataset:0.1.0 worker --job /job --shard 0/1
FROM python:3.11-slim

# The shared libraries bpy's wheel links against (X11 client libraries, GL, EGL, xkbcommon), and Mesa's EGL
# driver (llvmpipe): EEVEE and Workbench need it without a GPU, or they abort the process; Cycles needs no GL
# (research/blender-headless.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libx11-6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libxext6 libxt6 \
        libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri \
    && rm -rf /var/lib/apt/lists/*

# The pins of requirements-dev.txt and the Makefile's BPY (tests/core/test_dockerfile.py checks them).
RUN pip install --no-cache-dir bpy==5.0.1 boto3==1.44.5 "numpy>=1.26,<2" Pillow==13.0.0

# The worker's user (cloud/words.py WORKER_UID): not root; Kubernetes' fsGroup makes a claim writable to it.
RUN useradd --create-home --uid 10001 --user-group nerf

# Only what the extension package ships (.dockerignore follows blender_manifest.toml's paths_exclude_pattern).
COPY . /opt/nerf_dataset

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/nerf
ENTRYPOINT ["python", "/opt/nerf_dataset/cli.py"]
