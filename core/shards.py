"""Shards: the plan's views cut into N disjoint blocks of consecutive frames, one per worker.

Blocks of consecutive frames let each worker render by frame ranges (Blender's animation render);
the cut depends only on the plan and N, so any number of workers renders the same dataset.
"""

from __future__ import annotations

from pathlib import Path

from .files import write_text_atomic
from .layout import done_list

MAX_DONE_LIST_BYTES = 16 << 20  # 9-digit frames, a million of them


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0 <= I < N) -> (I, N); ``OptionError`` names the option it was given to."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"must look like I/N (e.g. 0/4), not '{text}'") from None
    if not (1 <= n <= 100_000 and 0 <= i < n):
        raise ValueError(f"{text}: I must be in 0..N-1 and N 1 to 100000")
    return i, n


def shard_views(views, index: int, count: int) -> list:
    """Shard ``index`` of ``count``: a contiguous block; block sizes differ by at most one view."""
    views = list(views)
    lo, hi = index * len(views) // count, (index + 1) * len(views) // count
    return views[lo:hi]


def done_list_path(out_dir: Path, index: int, count: int) -> Path:
    return Path(out_dir) / done_list(index, count)


def start_done_list(out_dir: Path, index: int, count: int, done: list[int]) -> None:
    """The shard's done-list of finished views (frame numbers), started from those already complete."""
    write_text_atomic(done_list_path(out_dir, index, count), "".join(f"{f}\n" for f in sorted(done)))


def append_done(out_dir: Path, index: int, count: int, frame: int) -> None:
    """One line per finished view: constant cost per frame however large the shard."""
    with open(done_list_path(out_dir, index, count), "a") as f:
        f.write(f"{frame}\n")


def read_done(out_dir: Path, index: int, count: int) -> set[int]:
    """Frames the shard has finished; a line torn by a crash is ignored (resume re-checks the images)."""
    try:
        with open(done_list_path(out_dir, index, count), "rb") as f:
            lines = f.read(MAX_DONE_LIST_BYTES).decode("ascii", errors="replace").split("\n")
    except OSError:
        return set()
    # The last piece has no newline: torn or empty. A damaged done-list only costs re-checking its views' files.
    return {int(x) for x in lines[:-1] if x.isdigit() and len(x) <= 9}
