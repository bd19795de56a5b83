"""The hub: the one place Blender instances deliver frames to and consumers take them from.

It lives in the trainer's process, on loopback. Instances render only with credit: each starts with
``queue_size`` credits and gets one back when one of its frames leaves the queue for a consumer, so an
instance is never more than ``queue_size`` frames ahead of the consumers (back-pressure) and the hub holds at
most ``num_instances * queue_size`` frames with credit, plus those on their way to a consumer or put back by
one that died, which the consumers bound (see ``_take``). Each frame is popped from the queue once, under a
lock, by the one consumer that asked for it, and counts as delivered when that consumer asks again (or says it
is done): a consumer that dies with a frame on the wire puts it back for the others. Exactly once, whatever
the number of ``DataLoader`` workers; and a consumer that idles holds its one frame, never an instance's
credit.

Every peer holds the secret and may still be hostile: what it writes is quoted on one line, bounded; a
message, once begun, has MESSAGE_TIMEOUT to arrive whole, and a new connection HELLO_TIMEOUT to say hello.
"""

from __future__ import annotations

import collections
import errno
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from ..core.errors import UserError
from ..core.text import one_line
from . import wire
from .items import check_frame

BACKLOG = 4096
"""Connections the kernel holds for us until accepted (it caps this at net.core.somaxconn): a flood of
strangers must not fill it, or a real peer's connection is dropped and retried seconds later."""
ANSWER_TIMEOUT = 3.0
"""Seconds a connection has to send its fixed answer to the challenge: a real peer needs milliseconds."""
MIN_ANSWER_TIME = 0.5
"""Seconds every connection has to answer, however many strangers come after it: at the limit on handshakes
under way (``max_handshakes``), the oldest is closed to make room only once it has had this long."""
ACCEPT_BATCH = 64
"""Connections accepted in a row before the answers that have arrived are read."""
HELLO_TIMEOUT = wire.HANDSHAKE_TIMEOUT
"""Seconds an authenticated peer has to say hello: a real one does at once, a silent one is closed."""
MESSAGE_TIMEOUT = 30.0
"""Seconds a peer has for the rest of a message once its first byte arrived (a frame is sent in one
``sendall``): one that stops halfway would otherwise hold the stream forever."""
PEER_WORDS = 300
"""Characters of anything a peer wrote (its error, a message type, an id) quoted in our messages, at most."""
LIVE = ("starting", "live", "lost")
"""States in which an instance may still deliver frames ("lost": its fate is being decided)."""


@dataclass
class Instance:
    id: int
    state: str = "starting"
    """starting → live → ended (all its views sent) | lost → dead (or starting again, restarted)."""
    sock: socket.socket | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    received: int = 0
    credits_out: int = 0
    reason: str = ""
    generation: int = 0


@dataclass
class Stream:
    max_items: int | None
    recorder: object = None
    handed: int = 0


class Hub:
    def __init__(self, secret: bytes, num_instances: int, queue_size: int, host: str = "127.0.0.1"):
        self.secret, self.queue_size = secret, queue_size
        self.listener = socket.create_server((host, 0), backlog=BACKLOG)
        self.address = self.listener.getsockname()[:2]
        self.cv = threading.Condition()
        self.frames: collections.deque = collections.deque()
        self.instances = {i: Instance(i) for i in range(num_instances)}
        self.streams: dict[str, Stream] = {}
        self.failure: str | None = None
        """Set when the stream cannot go on (an instance lost under ``on_lost="raise"``): consumers raise it."""
        self.refused = 0
        self.dropped: collections.deque = collections.deque(maxlen=100)
        self.params: tuple[int, dict] = (0, {})
        self.on_lost = None
        """``on_lost(instance, reason) -> (decision, reason)``: a lost instance's fate, "restart" (the callback
        has started it again), "continue" or "raise", and how it ended in words. Called without the lock."""
        self.closed = False
        self._start(self._accept_loop)

    # -- threads ------------------------------------------------------------------------------------
    def _start(self, target, *args) -> None:
        threading.Thread(target=target, args=args, daemon=True).start()

    def _accept_loop(self) -> None:
        """Accepts connections and runs their handshakes, all of them in this one thread without blocking on
        any: a stranger costs a descriptor for a few seconds at most, and only a peer that proved it holds the
        secret gets a thread."""
        handshakes = _Handshakes(self.secret, max_handshakes())
        self.listener.setblocking(False)
        listening = False
        try:
            while not self.closed:
                if listening == handshakes.full():  # full: newcomers wait in the kernel's backlog meanwhile
                    listening = not listening
                    if not self._listen(handshakes.selector, listening):
                        return
                for key, _ in handshakes.selector.select(timeout=handshakes.wait()):
                    if key.fileobj is not self.listener:
                        self._answered(handshakes.read(key.fileobj))
                if listening:
                    self._accept_some(handshakes)
                self._refuse_all(handshakes.expire())
        finally:
            handshakes.close()

    def _listen(self, selector: selectors.BaseSelector, on: bool) -> bool:
        """Watch the listener for newcomers, or stop; False once the hub has closed it."""
        try:
            if on:
                selector.register(self.listener, selectors.EVENT_READ)
            else:
                selector.unregister(self.listener)
        except (OSError, ValueError, KeyError):
            return False
        return True

    def _accept_some(self, handshakes: _Handshakes) -> None:
        """Accept what is waiting, ACCEPT_BATCH at most, so that answers that have arrived are read between."""
        for _ in range(ACCEPT_BATCH):
            if handshakes.full():
                return
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if not self.closed and exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._refuse_all(handshakes.close_oldest())  # out of descriptors: a stranger gives its own
                return
            self._refuse_all(handshakes.make_room())
            self._refuse_all(handshakes.start(conn))

    def _answered(self, outcome) -> None:
        """A connection's handshake ended: an authenticated peer gets its own thread, anyone else is closed."""
        if outcome is None:
            return
        conn, refusal = outcome
        if refusal is None:
            self._start(self._serve, conn)
        else:
            self._refuse_all([(conn, refusal)])

    def _drop(self, why: str) -> None:
        with self.cv:
            self.dropped.append(f"dropped: {why}")

    def _refuse_all(self, refused) -> None:
        for conn, why in refused:
            with self.cv:  # counted before the close: a peer that sees the close may ask for the count at once
                self.refused += 1
                self.dropped.append(f"refused: {why}")
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        """An authenticated peer: an instance or a consumer, as its hello says."""
        try:
            try:
                hello, _ = wire.recv(conn, max_payload=0, deadline=time.monotonic() + HELLO_TIMEOUT)
            except wire.TooSlow:
                raise wire.WireError(f"it said no hello within {HELLO_TIMEOUT:g} s") from None
            role = hello.get("role")
            if hello.get("type") == "hello" and role == "instance":
                self._serve_instance(conn, hello)
            elif hello.get("type") == "hello" and role == "consumer":
                self._serve_consumer(conn, hello)
            else:
                raise wire.WireError("the first message is not a hello")
        except (wire.WireError, OSError, ValueError, TypeError, KeyError) as exc:
            self._drop(one_line(exc, PEER_WORDS))
        finally:
            conn.close()

    # -- instances ----------------------------------------------------------------------------------
    def _serve_instance(self, conn: socket.socket, hello: dict) -> None:
        i = hello.get("instance")
        with self.cv:
            inst = self.instances.get(i) if isinstance(i, int) and not isinstance(i, bool) else None
            if inst is None or inst.state != "starting" or hello.get("generation") != inst.generation:
                raise wire.WireError(f"instance {_quoted(i)} is not expected")
            generation = inst.generation
            queued = sum(1 for f in self.frames if f[0] == i and f[3])
            inst.sock, inst.state = conn, "live"
            inst.credits_out = max(self.queue_size - queued, 0)
            version, params = self.params
            self.cv.notify_all()
        if version:
            self._to_instance(inst, {"type": "params", "version": version, "params": params})
        self._to_instance(inst, {"type": "credit", "n": inst.credits_out})
        reason, what = "its connection closed", "message"
        try:
            while True:
                wire.wait_for_message(conn)  # rendering takes what it takes; a message, once begun, does not
                deadline, what = time.monotonic() + MESSAGE_TIMEOUT, "message"
                header, payload_len = wire.recv_header(conn, deadline=deadline)
                kind = header["type"]
                if kind == "frame":
                    header["instance"], what = i, "frame"
                    check_frame(header, live=True)  # before its payload is read: an invalid frame is never queued
                    payload = wire.recv_exact(conn, payload_len, deadline)
                    with self.cv:
                        if inst.generation != generation or inst.state != "live":
                            raise wire.WireError(f"instance {i} was replaced: its old connection is not heard")
                        if inst.credits_out <= 0:
                            raise wire.WireError(f"instance {i} sent a frame without credit")
                        inst.credits_out -= 1
                        inst.received += 1
                        self.frames.append((i, header, payload, True))
                        self.cv.notify_all()
                elif kind == "end":
                    with self.cv:
                        inst.state = "ended"
                        self.cv.notify_all()
                    return
                elif kind == "error":  # its words in one printable line, bounded: they end up in InstanceLost
                    reason = "it failed: " + one_line(header.get("message", "no reason given"), PEER_WORDS)
                    break
                else:
                    raise wire.WireError(f"instance {i} sent a {_quoted(kind)} message")
        except wire.TooSlow:  # the frame is dropped with the instance, as it came: in part
            reason = f"it sent part of a {what} and stopped (nothing more for {MESSAGE_TIMEOUT:g} s)"
        except (ConnectionError, TimeoutError):
            pass  # reset or broken: closed, as far as anyone can tell
        except UserError as exc:  # the frame is dropped with the instance; consumers never see it
            reason = f"it sent a frame that is not valid ({exc})"
        except (wire.WireError, OSError) as exc:
            if "closed" not in str(exc):
                reason = f"its connection broke the protocol ({exc})"
        self.lose(i, reason, generation)

    def lose(self, i: int, reason: str, generation: int | None = None) -> None:
        """Instance ``i`` is gone (its connection, or its process, said so). Until ``on_lost`` has decided,
        consumers wait rather than end: a lost instance never looks like a finished one."""
        with self.cv:
            inst = self.instances[i]
            if inst.state not in ("starting", "live") or (generation is not None and generation != inst.generation):
                return
            inst.state, inst.reason, inst.sock = "lost", reason, None
            generation = inst.generation
        decision, reason = self.on_lost(i, reason) if self.on_lost else ("raise", reason)
        with self.cv:
            if decision == "restart" or inst.generation != generation:
                return
            inst.state, inst.reason = "dead", reason
            if decision == "raise":
                message = f"Blender instance {i} stopped: {reason}; the frames delivered before it are complete"
                self.failure = self.failure or message
            self.cv.notify_all()

    def expect_again(self, i: int) -> int:
        """Instance ``i`` is being restarted; returns the new process's generation."""
        with self.cv:
            inst = self.instances[i]
            inst.state, inst.generation = "starting", inst.generation + 1
            self.cv.notify_all()
            return inst.generation

    def _to_instance(self, inst: Instance, header: dict, sock: socket.socket | None = None) -> None:
        """Send ``header`` to ``inst`` (on ``sock``, its connection when the message was decided: a credit
        owed to a connection since replaced is not for its successor, which gets its credit anew)."""
        sock = sock or inst.sock
        if sock is None:
            return
        try:
            with inst.send_lock:
                wire.send(sock, header)
        except OSError:
            pass  # its reader thread sees the closed connection

    def send_params(self, params: dict) -> int:
        """Broadcast ``params`` to every live instance; returns its version number."""
        size = len(wire.encode({"type": "params", "version": 1, "params": params}))
        if size > wire.MAX_PARAMS:
            raise ValueError(f"params of {size} bytes as JSON are over the limit of {wire.MAX_PARAMS}")
        with self.cv:
            version = self.params[0] + 1
            self.params = (version, params)
            live = [inst for inst in self.instances.values() if inst.state == "live"]
        for inst in live:
            self._to_instance(inst, {"type": "params", "version": version, "params": params})
        return version

    # -- consumers ----------------------------------------------------------------------------------
    def open_stream(self, stream_id: str, max_items: int | None, recorder=None) -> None:
        with self.cv:
            if self.closed:
                raise ValueError("the launch is closed: start a new one")
            self.streams[stream_id] = Stream(max_items, recorder)

    def _serve_consumer(self, conn: socket.socket, hello: dict) -> None:
        with self.cv:
            stream = self.streams.get(hello.get("stream"))
        if stream is None:
            raise wire.WireError("the consumer names no open stream")
        pending = None  # the frame on its way to this consumer: delivered once the consumer speaks again
        try:
            while True:
                wire.wait_for_message(conn)  # a trainer may take its time between frames, not within a message
                request, _ = wire.recv(conn, max_payload=0, deadline=time.monotonic() + MESSAGE_TIMEOUT)
                if pending is not None:
                    self._delivered(stream, pending)
                    pending = None
                if request["type"] == "done":
                    return
                if request["type"] != "next":
                    raise wire.WireError(f"a consumer sent a {_quoted(request['type'])} message")
                item, credit_to = self._take(stream)
                if isinstance(item, dict):
                    wire.send(conn, item)
                    continue
                pending = item
                if credit_to is not None:
                    self._to_instance(self.instances[item[0]], {"type": "credit", "n": 1}, credit_to)
                conn.sendall(wire.encode_raw(item[1], item[2]))
        finally:
            if pending is not None:
                self._put_back(stream, pending)

    def _delivered(self, stream: Stream, item) -> None:
        _, header, payload, _ = item
        if stream.recorder is not None:
            try:
                stream.recorder.write(header, payload)
            except OSError as exc:  # a full disk: the stream stops saying so, rather than record a part of it
                with self.cv:
                    self.failure = self.failure or f"recording into {stream.recorder.root} failed: {exc}"
                    self.cv.notify_all()

    def _take(self, stream: Stream):
        """The next frame for ``stream`` and the connection its credit goes back to (None: none does), or a
        message saying why there is none.

        A frame's credit goes back to its instance as the frame leaves the queue, not when its consumer speaks
        again: a consumer that takes a frame and then idles (a trainer busy, or a hostile peer) must not stall
        the instance, and so every other consumer, at small ``queue_size``. Exactly once still holds: the frame
        stays ``pending`` with its consumer until that one asks again, and one that dies with it puts it back,
        without its credit (``False``), ahead of the rest. So the hub holds at most ``queue_size`` frames per
        instance that hold credit, plus one in flight per consumer and those put back, which are taken first
        (a consumer takes a frame with credit only when none is put back): bounded by the consumers.
        """
        with self.cv:
            while True:
                if self.failure:
                    return {"type": "error", "message": self.failure}, None
                if self.closed:
                    return {"type": "end", "why": "the launch was closed"}, None
                if stream.max_items is not None and stream.handed >= stream.max_items:
                    return {"type": "end", "why": "max_items"}, None
                if self.frames:
                    item = self.frames.popleft()
                    stream.handed += 1
                    inst = self.instances[item[0]]
                    if not item[3] or inst.state != "live":  # a restarted instance gets its credit anew
                        return item, None
                    inst.credits_out += 1
                    return item, inst.sock
                if not any(inst.state in LIVE for inst in self.instances.values()):
                    dead = [inst for inst in self.instances.values() if inst.state == "dead"]
                    if dead:  # on_lost="continue": the others went on, but this stream is short of their frames
                        first = dead[0]
                        others = f" (and {len(dead) - 1} more)" if len(dead) > 1 else ""
                        return {"type": "error", "message": f"the stream ended short: Blender instance {first.id}"
                                f"{others} stopped before its last frame: {first.reason}"}, None  # fmt: skip
                    return {"type": "end", "why": "every instance has ended"}, None
                self.cv.wait(timeout=1.0)

    def _put_back(self, stream: Stream, item) -> None:
        """A frame its consumer never confirmed goes back to the front, its credit already returned."""
        with self.cv:
            self.frames.appendleft((*item[:3], False))
            stream.handed -= 1
            self.cv.notify_all()

    # -- life ---------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float, alive) -> None:
        """Until every instance has connected; ``alive()`` raises if a process died before it could."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while any(inst.state == "starting" for inst in self.instances.values()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the Blender instances did not connect within {timeout:.0f} s")
                self.cv.release()
                try:
                    alive()
                finally:
                    self.cv.acquire()
                self.cv.wait(timeout=0.2)

    def stats(self) -> dict:
        with self.cv:
            return {
                "received": {i: inst.received for i, inst in self.instances.items()},
                "states": {i: inst.state for i, inst in self.instances.items()},
                "queued": len(self.frames),
                "refused": self.refused,
            }

    def close(self) -> None:
        with self.cv:
            if self.closed:
                return
            self.closed = True
            socks = [(inst, inst.sock) for inst in self.instances.values() if inst.sock is not None]
            self.cv.notify_all()
        for inst, _ in socks:
            self._to_instance(inst, {"type": "stop"})
        for sock in (self.listener, *(s for _, s in socks)):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it
            except OSError:
                pass
        self.listener.close()


def max_handshakes() -> int:
    """Handshakes under way at once, at most: a quarter of the descriptors this process may open (up to 1024),
    so that strangers can never take the ones the trainer and the real peers need."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 256
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 4))


@dataclass
class _Pending:
    nonce: bytes
    since: float
    answer: bytearray = field(default_factory=bytearray)


class _Handshakes:
    """The server's side of the handshakes under way, without blocking: the greeting is sent on accept, the
    fixed-size answer read as it arrives, our proof sent back. Oldest first, so expiry and eviction look at
    the front only."""

    def __init__(self, secret: bytes, limit: int):
        self.secret, self.limit = secret, limit
        self.selector = selectors.DefaultSelector()
        self.pending: collections.OrderedDict[socket.socket, _Pending] = collections.OrderedDict()

    def start(self, conn: socket.socket) -> list:
        """Greet ``conn``; returns the connections refused meanwhile (it, if it cannot take 46 bytes)."""
        conn.setblocking(False)
        nonce, greeting = wire.challenge()
        try:
            if conn.send(greeting) != len(greeting):
                return [(conn, "the peer did not take the greeting")]
        except OSError as exc:
            return [(conn, f"the greeting failed ({exc.strerror or exc})")]
        self.pending[conn] = _Pending(nonce, time.monotonic())
        self.selector.register(conn, selectors.EVENT_READ)
        return []

    def read(self, conn: socket.socket):
        """Read what has arrived of ``conn``'s answer: None while it is incomplete, else ``(conn, None)`` for a
        peer that holds the secret (now blocking, handshake done) or ``(conn, why)`` for one refused."""
        pending = self.pending[conn]
        try:
            data = conn.recv(wire.ANSWER - len(pending.answer))
        except BlockingIOError:
            return None
        except OSError as exc:
            return self._end(conn, f"the connection failed ({exc.strerror or exc})")
        if not data:
            return self._end(conn, "the connection closed")
        pending.answer += data
        if len(pending.answer) < wire.ANSWER:
            return None
        try:
            proof = wire.check_answer(self.secret, pending.nonce, bytes(pending.answer))
            sent = conn.send(proof)  # 32 bytes into an empty send buffer: never blocks, never short
        except wire.Refused as exc:
            return self._end(conn, str(exc))
        except OSError as exc:
            return self._end(conn, f"the connection failed ({exc.strerror or exc})")
        if sent != len(proof):
            return self._end(conn, "the peer did not take our proof")
        self._end(conn, None)
        conn.setblocking(True)
        return conn, None

    def _end(self, conn: socket.socket, why: str | None):
        self.selector.unregister(conn)
        del self.pending[conn]
        return conn, why

    def full(self) -> bool:
        """At the limit, and the oldest has not had MIN_ANSWER_TIME yet: no newcomer until it has."""
        return len(self.pending) >= self.limit and self._oldest_age() < MIN_ANSWER_TIME

    def make_room(self) -> list:
        """Room for a newcomer (when not ``full``): at the limit, the oldest handshake closed."""
        return self.close_oldest() if len(self.pending) >= self.limit else []

    def close_oldest(self) -> list:
        if not self.pending:
            return []
        return [self._end(next(iter(self.pending)), "a newer connection needed its place")]

    def expire(self) -> list:
        """The handshakes past ANSWER_TIMEOUT, ended."""
        out = []
        while self.pending and self._oldest_age() >= ANSWER_TIMEOUT:
            out.append(self._end(next(iter(self.pending)), "the peer took too long"))
        return out

    def wait(self) -> float:
        """Seconds until the oldest handshake expires, or, when full, makes room (0.2 at most: a closed hub is
        noticed that soon)."""
        if not self.pending:
            return 0.2
        due = MIN_ANSWER_TIME if self.full() else ANSWER_TIMEOUT
        return min(0.2, max(0.0, due - self._oldest_age()))

    def _oldest_age(self) -> float:
        return time.monotonic() - next(iter(self.pending.values())).since if self.pending else 0.0

    def close(self) -> None:
        for conn in list(self.pending):
            conn.close()
        self.pending.clear()
        self.selector.close()


def _quoted(value) -> str:
    """A value a peer sent, quoted in one of our sentences: ``repr``, on one line, PEER_WORDS at most."""
    return one_line(repr(value), PEER_WORDS)
