"""A real moto server on loopback (S3 and AWS Batch, Docker off) for the cloud tests, with a request log.

The server is moto's own WSGI app behind werkzeug, as ``moto_server`` runs it; the only addition is a
middleware that counts each request (method, path), so a test can tell which objects were PUT and how often.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter

ACCESS_KEY = "AKIANERFDATASETTEST1"
SECRET_KEY = "nerfDatasetTestSecretKey0123456789abcdefX"
REGION = "us-east-1"
BUCKET = "nerf-jobs"
QUEUE = "render-queue"
DEFINITION = "nerf-worker"


class MotoAws:
    def __init__(self):
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.requests: Counter = Counter()
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ, start_response):
            with self._lock:
                self.requests[(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))] += 1
            return app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, counting, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self._post("/moto-api/config", {"batch": {"use_docker": False}})
        self.env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}  # fmt: skip
        self.s3 = self.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        self.batch = self.client("batch")
        role = self.client("iam").create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        ce = self.batch.create_compute_environment(computeEnvironmentName="render-ce", type="UNMANAGED",
                                                   state="ENABLED", serviceRole=role)  # fmt: skip
        order = [{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}]
        self.batch.create_job_queue(jobQueueName=QUEUE, state="ENABLED", priority=1, computeEnvironmentOrder=order)
        self.batch.register_job_definition(jobDefinitionName=DEFINITION, type="container",
                                           containerProperties={"image": "nerf-dataset-worker:test", "vcpus": 1,
                                                                "memory": 2048, "command": ["--help"]})  # fmt: skip

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY)  # fmt: skip

    def _post(self, path: str, body: dict) -> None:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def puts(self, key_part: str = "") -> int:
        """PUT requests (uploads) whose path holds ``key_part``."""
        return sum(n for (method, path), n in self.requests.items() if method == "PUT" and key_part in path)

    def objects(self, prefix: str) -> dict[str, bytes]:
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for obj in page.get("Contents", []):
                found[obj["Key"]] = self.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        return found

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
