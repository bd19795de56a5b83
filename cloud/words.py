"""Plain words of their kind, for the values the cloud back-ends put into another program's input.

An engine's options come from the command line and, read back, from a job folder that may come from anyone:
each value must be one word of its kind (a DNS name, an image reference, a quantity...) before it reaches a
manifest, a job config or a command line. Patterns are matched whole (``re.fullmatch``, ASCII only), so no
newline, space or shell character gets through.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
"""RFC 1123 label, as Kubernetes checks namespaces and Job names: at most 63 characters."""
DNS_SUBDOMAIN = rf"(?=.{{1,253}}$){DNS_LABEL}(?:\.{DNS_LABEL})*"
"""RFC 1123 subdomain, as Kubernetes checks Secret, PersistentVolumeClaim and ServiceAccount names."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
IMAGE = (
    rf"(?=.{{1,512}}$)(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
"""A container image reference, ``[host[:port]/]path[:tag][@digest]`` (the distribution/reference grammar)."""

QUANTITY = r"(?=.{1,32}$)(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?"
"""A non-negative Kubernetes resource quantity (``4``, ``3500m``, ``8Gi``, ``1e3``); no sign, no spaces."""

ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,127}"

# The worker image (``Dockerfile``): where the add-on lies and the user it runs as.
IMAGE_ADDON_DIR = "/opt/nerf_dataset"
WORKER_UID = 10001


def is_word(pattern: str, value) -> bool:
    return isinstance(value, str) and value.isascii() and re.fullmatch(pattern, value) is not None


def is_count(value, lo: int, hi: int) -> bool:
    """An int in [lo, hi]; ``True`` and ``2.0`` are not counts."""
    return type(value) is int and lo <= value <= hi


def is_mount_path(value, forbidden: str = IMAGE_ADDON_DIR) -> bool:
    """An absolute POSIX folder of plain segments, not ``/`` and not over or inside the add-on's own folder."""
    if not is_word(r"(?:/[A-Za-z0-9_.-]+){1,32}", value) or len(value) > 256:
        return False
    path = PurePosixPath(value)
    if any(part in (".", "..") for part in path.parts):
        return False
    return not (path == PurePosixPath(forbidden) or path in PurePosixPath(forbidden).parents
                or PurePosixPath(forbidden) in path.parents)  # fmt: skip


def check_args(worker_args) -> list[str]:
    """The worker's argv after the image's entrypoint: plain strings, no NUL (argv cannot hold one)."""
    if not (isinstance(worker_args, (list, tuple)) and 0 < len(worker_args) <= 256):
        raise ValueError("worker arguments must be a non-empty list")
    if not all(isinstance(a, str) and "\0" not in a and len(a) <= 4096 for a in worker_args):
        raise ValueError("worker arguments must be strings without NUL")
    return list(worker_args)
