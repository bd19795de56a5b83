"""Where a job lives: a folder every node reads, or ``s3://BUCKET/PREFIX`` in object storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError

# S3's bucket naming rules (3-63 characters; lower case, digits, dots, hyphens; no IP-address form).
BUCKET = re.compile(r"(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_PREFIX = 512


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str
    """Without a leading or trailing ``/``; never empty (a job never takes a whole bucket)."""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}"


def parse_location(text: str) -> Path | S3Url:
    """``s3://BUCKET/PREFIX`` as an ``S3Url``; anything else is a folder."""
    if not text.lower().startswith("s3://"):
        return Path(text).expanduser().absolute()
    bucket, _, prefix = text[5:].partition("/")
    prefix = prefix.strip("/")
    parts = prefix.split("/")
    if not BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UserError(f"{text}: {bucket!r} is not an S3 bucket name")
    if not prefix:
        raise UserError(f"{text}: give a prefix for the job (s3://{bucket}/jobs/NAME), not the whole bucket")
    if len(prefix.encode()) > MAX_PREFIX or any(p in ("", ".", "..", ".nerf_dataset") or p != p.strip() for p in parts):
        raise UserError(f"{text}: the prefix must be plain path words, at most {MAX_PREFIX} bytes")
    if not prefix.isprintable() or "\\" in prefix:
        raise UserError(f"{text}: the prefix has characters S3 keys should not have")
    return S3Url(bucket, "/".join(parts))
