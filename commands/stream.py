"""``cli.py stream``: one Blender instance of ``nerf_dataset.stream.launch``. Its secret and then its spec (JSON)
come on stdin, one line each, before the scene loads (``app.stream_instance``); nothing is on its command line."""

from __future__ import annotations

import json
import sys

from ..app.stream_instance import InstanceSpec, serve
from ..core.errors import UserError
from .parsing import EXIT_BAD_INPUT, refused

PROG = "cli.py stream"
MAX_SPEC_BYTES = 1 << 20


def main(ours: list[str]) -> int:
    if ours:
        return refused(PROG, UserError("takes its spec on stdin from nerf_dataset.stream.launch, not options"))
    secret = _read_secret()
    if secret is None:
        print(f"{PROG}: error: the launch's secret must come first on stdin (64 hex digits)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        line = sys.stdin.buffer.readline(MAX_SPEC_BYTES + 1)
        if len(line) > MAX_SPEC_BYTES:
            raise UserError("the launch's spec is larger than any launch writes")
        spec = InstanceSpec.from_json(json.loads(line))
    except (ValueError, RecursionError):
        return refused(PROG, UserError("the launch's spec must follow the secret on stdin, as one line of JSON"))
    except UserError as exc:
        return refused(PROG, exc)
    return serve(secret, spec)


def _read_secret() -> bytes | None:
    try:
        line = sys.stdin.buffer.readline(200).strip()
        secret = bytes.fromhex(line.decode("ascii"))
    except (ValueError, OSError, AttributeError):
        return None
    return secret if len(secret) == 32 else None
