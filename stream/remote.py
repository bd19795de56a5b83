"""``RemoteIterableDataset``: the frames of a launch, as they are rendered, for a ``DataLoader``."""

from __future__ import annotations

import secrets

from ..core.errors import UserError
from ..core.text import one_line
from . import wire
from .items import BACKGROUNDS, CONVENTIONS, check_choice, check_frame, frame_item, to_torch
from .launcher import InstanceLost
from .record import Recorder

try:
    from torch.utils.data import IterableDataset as _Base
except ImportError:  # the numpy side (``frames()``) works without torch
    _Base = object


class RemoteIterableDataset(_Base):
    """Frames of ``launch`` as they come: each delivered to exactly one iterator (one per ``DataLoader``
    worker), none twice, none lost; at most ``max_items`` in all (None: until every instance has ended, or
    forever for an endless stream). ``record=DIR`` writes every delivered frame there (``replay(DIR)``).

    Items are dicts: ``image`` (H, W, 4 or 3 floats), ``c2w`` and ``K``, ``split``/``index`` (the view),
    ``instance``/``seq`` (who rendered it, its number there), ``params`` (what the randomisation returned),
    and the annotations ``bbox``, ``box_corners``, ``keypoints``/``keypoints_visible``, ``object_to_camera``.
    """

    def __init__(
        self,
        launch,
        max_items: int | None = None,
        record=None,
        background: str = "keep",
        convention: str = "opengl",
        dtype=None,
        pose_dtype=None,
    ):
        check_choice("background", background, BACKGROUNDS)
        check_choice("convention", convention, CONVENTIONS)
        if max_items is not None and (not isinstance(max_items, int) or max_items < 0):
            raise ValueError(f"max_items must be a whole number ≥ 0 or None, not {max_items!r}")
        if launch.hub is None or launch.hub.closed:
            raise ValueError("the launch is not running: use the dataset inside its with block")
        self.address = launch.address
        self._secret = launch.secret
        self.stream_id = secrets.token_hex(16)
        self.max_items, self.background, self.convention = max_items, background, convention
        self.dtype, self.pose_dtype = dtype, pose_dtype
        self.recorder = Recorder(record, launch.facts()) if record is not None else None
        launch.hub.open_stream(self.stream_id, max_items, self.recorder)
        launch.streams.append(self)

    def __getstate__(self) -> dict:
        """What a DataLoader worker gets (pickled by torch for "spawn" workers, within this machine): the hub's
        address, the secret and the stream; the recorder stays with the hub that writes it."""
        return {**self.__dict__, "recorder": None}

    def __repr__(self) -> str:
        return f"RemoteIterableDataset(hub {self.address[0]}:{self.address[1]}, max_items={self.max_items})"

    def frames(self):
        """The items as numpy arrays (no torch needed)."""
        sock = wire.connect(tuple(self.address), self._secret)
        try:
            wire.send(sock, {"type": "hello", "role": "consumer", "stream": self.stream_id})
            while True:
                wire.send(sock, {"type": "next"})
                header, payload = wire.recv_raw(sock)
                kind = header["type"]
                if kind == "frame":
                    item = self._item(header, payload)
                    try:
                        yield item
                    except GeneratorExit:  # the consumer stopped: this frame was handed over all the same
                        try:
                            wire.send(sock, {"type": "done"})
                        except OSError:
                            pass
                        raise
                elif kind == "end":
                    return
                elif kind == "error":
                    raise InstanceLost(one_line(header.get("message"), 2000))
                else:
                    raise wire.WireError(f"the hub sent a {one_line(repr(kind), 300)} message")
        finally:
            sock.close()

    def _item(self, header: dict, payload: bytes) -> dict:
        """The hub checked the frame as it came in; checked again here (the same check), before its arrays are
        decoded, so that nothing but a sentence can come out of a frame."""
        try:
            fields = check_frame(header, live=True)
        except UserError as exc:
            raise wire.WireError(f"the hub sent a frame that is not valid: {exc}") from None
        image = wire.decode_arrays(header, payload)["image"]
        return frame_item(fields, image, self.background, self.convention)

    def __iter__(self):
        for item in self.frames():
            yield to_torch(item, self.dtype, self.pose_dtype)
