"""A job in object storage: the few S3 operations the job contract needs, through boto3.

Credentials come from boto3's standard chain (environment, profile, instance or task role) and never from
us: nothing here writes one anywhere. Transfers go through boto3's transfer manager (parallel, multipart,
retried); every S3 error becomes one sentence (``StorageError``, exit 1) rather than a botocore traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.options import Meta, Options, family, option
from .location import S3Url

RETRIES = 5
"""Attempts per request of a worker (an unattended task rides out a store's bad minute)."""
QUICK_RETRIES = 2
"""Attempts per request of a command a user waits on (status, collect, submit): an endpoint that never answers
is reported within a minute, not after five read timeouts."""
CONCURRENCY = 8
ENDPOINT = r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[\w./-]*)?"
REGION = r"[a-z]{2}(-[a-z]+)+-\d{1,2}|[a-z0-9-]{1,40}"
PROFILE = r"[\w.@+-]{1,64}"


class StorageError(OSError):
    """The bucket refused or could not be reached: one sentence, exit 1."""


@family
@dataclass(frozen=True)
class S3Options(Options):
    """How to reach the bucket. None of these is a secret: a job records endpoint and region for its workers;
    the profile *name* stays on the submitter's machine."""

    FAMILY = "S3"
    PANEL_PREFIX = "s3_"

    endpoint_url: str | None = option(
        None,
        Meta(
            "--endpoint-url",
            "Endpoint URL",
            "an S3-compatible store (MinIO, Ceph)",
            "URL",
            none_means="AWS",
            word=ENDPOINT,
            what="an S3 endpoint url",
        ),
    )
    region: str | None = option(
        None,
        Meta(
            "--region",
            "Region",
            "the bucket's region",
            "NAME",
            none_means="the AWS configuration's",
            word=REGION,
            what="an S3 region",
        ),
    )
    profile: str | None = option(None, Meta(
        "--profile", "AWS Profile", "a profile of ~/.aws/config; only its name is kept, never a key", "NAME",
        none_means="the standard chain: environment, profile, role", word=PROFILE, what="an S3 profile"))  # fmt: skip

    @staticmethod
    def from_job(d) -> S3Options:
        """What a job recorded of its bucket (never a profile: that is the submitter's own)."""
        if not isinstance(d, dict) or not set(d) <= {"endpoint_url", "region"}:
            raise UserError("the job's S3 options are damaged")
        try:
            return S3Options(**d)
        except UserError as exc:
            raise UserError(f"the job's S3 options are damaged: {exc}") from None

    def worker_args(self) -> list[str]:
        """What a worker in the cloud needs to reach the same bucket (its credentials are its own role's)."""
        args = []
        if self.endpoint_url:
            args += ["--endpoint-url", self.endpoint_url]
        if self.region:
            args += ["--region", self.region]
        return args

    def to_dict(self) -> dict:
        return {"endpoint_url": self.endpoint_url, "region": self.region}


def session(options: S3Options):
    import boto3
    import botocore.exceptions

    try:
        return boto3.session.Session(profile_name=options.profile, region_name=options.region)
    except botocore.exceptions.ProfileNotFound:
        raise UserError(f"--profile {options.profile}: no such AWS profile in ~/.aws/config") from None


def client(options: S3Options, service: str = "s3", patient: bool = False):
    from botocore.config import Config

    attempts, read_timeout = (RETRIES, 60) if patient else (QUICK_RETRIES, 20)
    config = Config(retries={"max_attempts": attempts, "mode": "standard"}, max_pool_connections=CONCURRENCY * 2,
                    connect_timeout=5, read_timeout=read_timeout)  # fmt: skip
    with errors(f"the {service} endpoint"):
        try:
            return session(options).client(service, endpoint_url=options.endpoint_url, config=config)
        except ValueError as exc:  # botocore's own check of the URL, or of the region
            raise UserError(f"--endpoint-url or --region: {exc}") from None


@contextlib.contextmanager
def errors(what: str):
    """botocore's exceptions as one sentence about ``what`` was being done."""
    import botocore.exceptions as bx
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError

    try:
        yield
    except (S3UploadFailedError, S3TransferFailedError) as exc:  # the transfer manager's wrapping of a ClientError
        text = str(exc)
        denied = any(w in text for w in ("(403)", "AccessDenied", "Forbidden"))
        reason = "access denied (the credentials may not read or write this prefix)" if denied else text[:200]
        raise StorageError(f"{what}: {reason}") from None
    except bx.ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "error"), err.get("Message", "")
        denied = "access denied (the credentials may not read or write this prefix)"
        words = {"AccessDenied": denied, "403": denied, "404": "not found", "NoSuchKey": "not found",
                 "NoSuchBucket": "no such bucket", "InvalidAccessKeyId": "the access key is not known",
                 "SignatureDoesNotMatch": "the secret key does not match the access key"}  # fmt: skip
        raise StorageError(f"{what}: {words.get(code, f'{code} {message}'.strip())[:200]}") from None
    except bx.NoCredentialsError:
        raise StorageError(f"{what}: no AWS credentials (environment, profile, or instance/task role)") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as exc:
        raise StorageError(f"{what}: cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'S3')}") from None
    except bx.BotoCoreError as exc:
        raise StorageError(f"{what}: {str(exc)[:200]}") from None


class S3Store:
    """A job's prefix in a bucket, read and written by the job's relative paths (``.nerf_dataset/plan.json``)."""

    def __init__(self, url: S3Url, options: S3Options, patient: bool = False):
        from boto3.s3.transfer import TransferConfig

        self.url, self.options = url, options
        self.client = client(options, patient=patient)
        self.transfer = TransferConfig(max_concurrency=CONCURRENCY, use_threads=True)

    def __str__(self) -> str:
        return str(self.url)

    def where(self, rel: str) -> str:
        return f"s3://{self.url.bucket}/{self.url.key(rel)}"

    def upload(self, path: Path, rel: str) -> None:
        with errors(f"uploading {self.where(rel)}"):
            self.client.upload_file(str(path), self.url.bucket, self.url.key(rel), Config=self.transfer)

    def put(self, rel: str, data: bytes) -> None:
        with errors(f"writing {self.where(rel)}"):
            self.client.put_object(Bucket=self.url.bucket, Key=self.url.key(rel), Body=data)

    def size(self, rel: str) -> int | None:
        """The object's size, or None when there is none."""
        import botocore.exceptions as bx

        with errors(f"reading {self.where(rel)}"):
            try:
                return self.client.head_object(Bucket=self.url.bucket, Key=self.url.key(rel))["ContentLength"]
            except bx.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

    def read(self, rel: str, limit: int) -> bytes | None:
        """At most ``limit`` bytes of a small object (a record, a plan), None when there is none; a larger
        object than a job ever has is damaged."""
        import botocore.exceptions as bx

        with errors(f"reading {self.where(rel)}"):
            try:
                r = self.client.get_object(Bucket=self.url.bucket, Key=self.url.key(rel), Range=f"bytes=0-{limit}")
            except bx.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
            data = r["Body"].read(limit + 1)
        if len(data) > limit:
            raise UserError(f"{self.where(rel)} is larger than any such file this tool writes; refusing it")
        return data

    def download(self, rel: str, path: Path, limit: int | None = None) -> bool:
        """Object ``rel`` into ``path`` (s3transfer writes a temporary name, then renames: a broken transfer
        leaves no file); False when there is none. With ``limit``, a larger object is refused unread."""
        import botocore.exceptions as bx

        if limit is not None:
            size = self.size(rel)
            if size is None:
                return False
            if size > limit:
                raise UserError(f"{self.where(rel)} is larger than any such file this tool writes; refusing it")
        path.parent.mkdir(parents=True, exist_ok=True)
        with errors(f"downloading {self.where(rel)}"):
            try:
                self.client.download_file(self.url.bucket, self.url.key(rel), str(path), Config=self.transfer)
            except bx.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def download_exact(self, rel: str, path: Path, size: int, sha256: str) -> bool:
        """Object ``rel`` into ``path`` when it has exactly ``size`` bytes with that sha256 (its proof's); False
        otherwise, with nothing left at ``path``. At most ``size + 1`` bytes are transferred: a larger object
        than its proof says is cut off there, never downloaded whole."""
        import botocore.exceptions as bx

        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # a temporary name of ours (app.ownership)
        digest, got = hashlib.sha256(), 0
        try:
            with errors(f"downloading {self.where(rel)}"):
                try:
                    body = self.client.get_object(Bucket=self.url.bucket, Key=self.url.key(rel),
                                                  Range=f"bytes=0-{size}")["Body"]  # fmt: skip
                except bx.ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "InvalidRange"):
                        return False  # gone, or empty where its proof says bytes
                    raise
                with body, open(part, "wb") as f:
                    while got <= size:
                        block = body.read(min(1 << 20, size + 1 - got))
                        if not block:
                            break
                        f.write(block)
                        digest.update(block)
                        got += len(block)
            if got != size or digest.hexdigest() != sha256:
                return False
            os.replace(part, path)
            return True
        finally:
            part.unlink(missing_ok=True)

    def list(self, rel_prefix: str = "") -> dict[str, int]:
        """{relative path: size} of every object under ``rel_prefix``."""
        found = {}
        base = self.url.key(rel_prefix) if rel_prefix else self.url.prefix + "/"
        with errors(f"listing {self.where(rel_prefix)}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.url.bucket, Prefix=base):
                for obj in page.get("Contents", []):
                    found[obj["Key"][len(self.url.prefix) + 1 :]] = obj["Size"]
        return found

    def delete(self, rels: list[str]) -> None:
        with errors(f"deleting in {self.url}"):
            for i in range(0, len(rels), 1000):
                batch = [{"Key": self.url.key(r)} for r in rels[i : i + 1000]]
                self.client.delete_objects(Bucket=self.url.bucket, Delete={"Objects": batch, "Quiet": True})
