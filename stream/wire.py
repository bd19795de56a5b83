"""The stream's transport: an authenticated handshake, then typed messages (a JSON header and raw arrays).

Nothing on this wire is pickled or evaluated. A connection starts with a mutual HMAC-SHA256 challenge on a
per-launch secret; until the peer has proved it holds the secret, the only thing read from it is a fixed
64 bytes that are compared, never decoded. Then each message is::

    b"NSTR" | header length (u32) | payload length (u64) | header: UTF-8 JSON object | payload

The header's ``arrays`` lists ``{"name", "dtype", "shape"}`` for the payload's arrays, packed in order. Only
plain numeric dtypes are accepted, every length and every dimension is bounded, and a payload's memory grows
as its bytes arrive (a header's promise allocates nothing). Header numbers are finite: NaN, Infinity and
``1e999`` are refused as our own encoder never writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import selectors
import socket
import struct
import time

import numpy as np

from ..core.strict_json import NotFinite, strict_json

MAGIC = b"NSTR"
GREETING = b"NSTR-STREAM/1\n"
NONCE = 32
PREFIX = struct.Struct("<4sIQ")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 512 << 20
MAX_ARRAYS = 64
CHUNK = 1 << 20
"""Bytes of a payload allocated ahead of their arrival, at most."""
DTYPES = ("uint8", "uint16", "int32", "int64", "float32", "float64", "bool")
HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client waits for the whole handshake (not per byte: a trickle cannot hold a connection open)."""
ANSWER = NONCE + 32
"""The client's answer to the challenge: its nonce and its MAC, the only bytes read from a stranger."""
MAX_PARAMS = 256 << 10
"""The largest parameters (as JSON) the trainer may send, and a randomisation may return, per frame."""
MAX_KEYPOINTS = 1000
"""Keypoints a launch may ask for, and so a frame may carry (live or replayed)."""


class WireError(Exception):
    """The peer broke the protocol, closed the connection, or failed to authenticate."""


class Refused(WireError):
    """The peer did not prove it holds the launch's secret."""


class TooSlow(WireError):
    """The peer did not send what it owed by the deadline."""


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def _mac(secret: bytes, role: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, role + b"".join(parts), hashlib.sha256).digest()


def recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    """``n`` bytes; the buffer grows a chunk at a time as they arrive, so a peer that promises much and sends
    little costs what it sent."""
    if n <= CHUNK:
        buf = bytearray(n)
        _fill(sock, memoryview(buf), deadline)
        return bytes(buf)
    buf = bytearray()
    while len(buf) < n:
        got = len(buf)
        buf.extend(bytes(min(CHUNK, n - got)))
        with memoryview(buf) as view, view[got:] as room:
            _fill(sock, room, deadline)
    return bytes(buf)


def _fill(sock: socket.socket, room: memoryview, deadline: float | None) -> None:
    """Fill ``room`` from ``sock``; with a ``deadline``, waiting for its bytes without touching the socket's
    timeout (another thread may be sending on it meanwhile)."""
    with selectors.DefaultSelector() if deadline is not None else contextlib.nullcontext() as selector:
        if selector is not None:
            selector.register(sock, selectors.EVENT_READ)
        got = 0
        while got < len(room):
            if selector is not None and not selector.select(max(0.0, deadline - time.monotonic())):
                raise TooSlow("the peer took too long")
            k = sock.recv_into(room[got:])
            if k == 0:
                raise WireError("the connection closed")
            got += k


def wait_for_message(sock: socket.socket) -> None:
    """Until the next message's first byte has arrived, however long that takes (an instance renders, a
    trainer trains), without reading it: the rest of the message then has a deadline."""
    if not sock.recv(1, socket.MSG_PEEK):
        raise WireError("the connection closed")


def challenge() -> tuple[bytes, bytes]:
    """Server side, first: the nonce and the greeting that carries it (sent as soon as a peer connects)."""
    nonce = secrets.token_bytes(NONCE)
    return nonce, GREETING + nonce


def check_answer(secret: bytes, server_nonce: bytes, answer: bytes) -> bytes:
    """Server side, last: the client's fixed-size ``answer`` compared, never decoded; raises Refused unless it
    proves the client holds ``secret``, else returns our proof to send back."""
    client_nonce, mac = answer[:NONCE], answer[NONCE:]
    if len(answer) != ANSWER or not hmac.compare_digest(mac, _mac(secret, b"client", server_nonce, client_nonce)):
        raise Refused("the peer does not hold the launch's secret")
    return _mac(secret, b"server", client_nonce, server_nonce)


def connect(address: tuple[str, int], secret: bytes, timeout: float = HANDSHAKE_TIMEOUT) -> socket.socket:
    """Client side: connect, answer the challenge and check the server's answer."""
    sock = socket.create_connection(address, timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        greeting = recv_exact(sock, len(GREETING) + NONCE, deadline)
        if not greeting.startswith(GREETING):
            raise WireError("the server does not speak this protocol")
        server_nonce = greeting[len(GREETING) :]
        client_nonce = secrets.token_bytes(NONCE)
        sock.sendall(client_nonce + _mac(secret, b"client", server_nonce, client_nonce))
        if not hmac.compare_digest(recv_exact(sock, 32, deadline), _mac(secret, b"server", client_nonce, server_nonce)):
            raise Refused("the server does not hold the launch's secret")
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except BaseException:
        sock.close()
        raise


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One message: ``header`` (JSON-able) and ``arrays`` (name → numeric ndarray)."""
    specs, blobs = [], []
    for name, a in (arrays or {}).items():
        a = np.ascontiguousarray(a)
        if a.dtype.name not in DTYPES:
            raise ValueError(f"array {name!r} has dtype {a.dtype}, not one of {', '.join(DTYPES)}")
        specs.append({"name": name, "dtype": a.dtype.name, "shape": list(a.shape)})
        blobs.append(a.tobytes())
    head = json.dumps({**header, "arrays": specs}, allow_nan=False, separators=(",", ":")).encode()
    payload = b"".join(blobs)
    return PREFIX.pack(MAGIC, len(head), len(payload)) + head + payload


def encode_raw(header: dict, payload: bytes) -> bytes:
    """A message whose header already lists its arrays (a frame forwarded as it came)."""
    head = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    return PREFIX.pack(MAGIC, len(head), len(payload)) + head + payload


def send(sock: socket.socket, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    sock.sendall(encode(header, arrays))


def recv_raw(sock: socket.socket, max_payload: int = MAX_PAYLOAD, deadline: float | None = None) -> tuple[dict, bytes]:
    """The next message's checked header and its undecoded payload (to forward or decode), all of it by
    ``deadline`` (``time.monotonic()``; None: no limit)."""
    header, payload_len = recv_header(sock, max_payload, deadline)
    return header, recv_exact(sock, payload_len, deadline)


def recv_header(sock: socket.socket, max_payload: int = MAX_PAYLOAD, deadline: float | None = None) -> tuple[dict, int]:
    """The next message's checked header and its payload's length, the payload still unread: a header can be
    refused before its payload is read."""
    magic, head_len, payload_len = PREFIX.unpack(recv_exact(sock, PREFIX.size, deadline))
    if magic != MAGIC:
        raise WireError("not a message of this protocol")
    if head_len > MAX_HEADER or payload_len > max_payload:
        raise WireError(f"a message of {head_len} + {payload_len} bytes is over the limit")
    try:
        header = strict_json(recv_exact(sock, head_len, deadline).decode("utf-8"))
    except NotFinite:
        raise WireError("a message header holds a number that is not finite") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"a message header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise WireError("a message header is not an object with a type")
    _check_specs(header.get("arrays", []), payload_len)
    return header, payload_len


def recv(
    sock: socket.socket, max_payload: int = MAX_PAYLOAD, deadline: float | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    header, payload = recv_raw(sock, max_payload, deadline)
    return header, decode_arrays(header, payload)


def decode_arrays(header: dict, payload: bytes) -> dict[str, np.ndarray]:
    out, at = {}, 0
    for spec in header.get("arrays", []):
        dtype = np.dtype(spec["dtype"])
        n = int(np.prod(spec["shape"], dtype=np.int64)) * dtype.itemsize
        out[spec["name"]] = np.frombuffer(payload, dtype, count=n // dtype.itemsize, offset=at).reshape(spec["shape"])
        at += n
    return out


def _check_specs(specs, payload_len: int) -> None:
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise WireError("a message's array list is malformed")
    total = 0
    for spec in specs:
        ok = isinstance(spec, dict) and isinstance(spec.get("name"), str) and spec.get("dtype") in DTYPES
        shape = spec.get("shape") if ok else None
        if not (isinstance(shape, list) and len(shape) <= 8):
            raise WireError("a message's array is malformed")
        if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_PAYLOAD for d in shape):
            raise WireError("a message's array has a bad shape")
        if _extent(shape) > MAX_PAYLOAD:  # an empty array's other dimensions too: numpy could not make it
            raise WireError("a message's array has a shape beyond the payload limit")
        size = np.dtype(spec["dtype"]).itemsize
        for d in shape:
            size *= d
            if size > payload_len:
                break
        total += size
        if total > payload_len:
            raise WireError("a message's arrays do not fit its payload")
    if total != payload_len:
        raise WireError("a message's arrays do not fill its payload")


def _extent(shape: list[int]) -> int:
    """The product of the dimensions, an empty one counted as 1 (stops once past the limit)."""
    extent = 1
    for d in shape:
        extent *= max(d, 1)
        if extent > MAX_PAYLOAD:
            break
    return extent
