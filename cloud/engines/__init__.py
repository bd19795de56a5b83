"""The batch engines, one module and one ``ENGINE`` each (``engine.Engine``), registered in ``ENGINES``.

Everything that lists or picks an engine reads this table: ``--backend``'s choices, the panel's Where, each
engine's flags and properties (its option family), the index variables a worker reads its shard from, and
``status``, ``--retry-missing`` and ``cancel`` of a job, which look its engine up by the name it recorded.
Adding an engine is one module here and one line below (README: "Adding an engine").
"""

from __future__ import annotations

from ...core.errors import UserError
from . import aws_batch, gcp_batch, kubernetes, local, slurm
from .engine import Engine

ENGINES: dict[str, Engine] = {m.ENGINE.name: m.ENGINE for m in (local, slurm, aws_batch, kubernetes, gcp_batch)}


def engine_of(spec) -> Engine:
    """The engine a job was submitted to (a job names one this version does not know: one sentence)."""
    engine = ENGINES.get(spec.backend)
    if engine is None:
        raise UserError(f"the job's back-end {spec.backend!r} is not one this version knows")
    return engine


def index_variables() -> tuple[str, ...]:
    """Each engine's variable for its task's index (research/cluster-engines.md)."""
    return tuple(e.index_variable for e in ENGINES.values() if e.index_variable)
