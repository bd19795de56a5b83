"""Issue 13's downloads without Blender, against a local HTTP server: limits without a Content-Length, a server
that trickles, archives whose members escape, two processes unpacking one body, credentials kept out of files."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nerf_dataset.app.fetch import FetchError, FetchOptions, _unzip, download_asset
from nerf_dataset.core.collection import Asset


@pytest.fixture
def server():
    bodies: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/trickle.obj":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for _ in range(50):
                    self.wfile.write(b"1\r\nv\r\n")
                    self.wfile.flush()
                    time.sleep(0.1)
                self.wfile.write(b"0\r\n\r\n")
                return
            body = bodies.get(path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")  # no Content-Length: the limit must hold anyway
            self.end_headers()
            for i in range(0, len(body), 65536):
                part = body[i : i + 65536]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", bodies
    httpd.shutdown()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_body_over_the_limit_is_cut_off_without_a_content_length(server, tmp_path):
    url, bodies = server
    bodies["/big.obj"] = b"#" * (3 << 20)
    with pytest.raises(FetchError, match="sent more than the 1 MB limit"):
        download_asset(Asset("big", f"{url}/big.obj"), FetchOptions(tmp_path, max_bytes=1 << 20))
    assert not list((tmp_path / "tmp").glob("*.part"))


def test_a_trickling_server_meets_the_deadline(server, tmp_path):
    url, _ = server
    with pytest.raises(FetchError, match="took more than 1 s"):
        download_asset(Asset("slow", f"{url}/trickle.obj"), FetchOptions(tmp_path, deadline=1.0))


def test_a_zip_is_unpacked_once_and_members_that_escape_are_refused(server, tmp_path):
    url, bodies = server
    bodies["/ok.zip"] = _zip({"chair/models/model_normalized.obj": b"v 0 0 0\n", "chair/images/t.png": b"x"})
    bodies["/evil.zip"] = _zip({"../../escape.obj": b"v 0 0 0\n"})
    got = download_asset(Asset("ok", f"{url}/ok.zip"), FetchOptions(tmp_path))
    assert got.name == "model_normalized.obj" and got.is_relative_to(tmp_path / "blobs")
    with pytest.raises(FetchError, match="whose path escapes its folder"):
        download_asset(Asset("evil", f"{url}/evil.zip"), FetchOptions(tmp_path))
    assert not (tmp_path.parent / "escape.obj").exists()


def test_two_processes_unpacking_one_body_both_succeed(tmp_path):
    body = tmp_path / "b.zip"
    body.write_bytes(_zip({"m.obj": b"v 0 0 0\n"}))
    (tmp_path / "b.zip.unpacked").mkdir()  # the other worker finished first
    (tmp_path / "b.zip.unpacked" / "m.obj").write_bytes(b"v 0 0 0\n")
    _unzip(body, tmp_path / "b.zip.unpacked", 1 << 20)
    assert (tmp_path / "b.zip.unpacked" / "m.obj").is_file() and not list(tmp_path.glob("*.tmp"))


def test_a_sum_that_differs_is_refused_and_credentials_stay_out_of_the_cache(server, tmp_path):
    url, bodies = server
    bodies["/m.obj"] = b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
    secret_url = url.replace("http://", "http://me:s3cret@") + "/m.obj?token=abc"
    with pytest.raises(FetchError, match="not the 000000"):
        download_asset(Asset("m", secret_url, "0" * 64), FetchOptions(tmp_path))
    right = hashlib.sha256(bodies["/m.obj"]).hexdigest()
    assert download_asset(Asset("m", secret_url, right), FetchOptions(tmp_path)).read_bytes() == bodies["/m.obj"]
    for f in tmp_path.rglob("*.json"):
        assert "s3cret" not in f.read_text() and "abc" not in f.read_text()
