"""JSON from strangers, read as our own encoder writes it (``allow_nan=False``).

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as infinity) and integers of thousands of digits;
none of them is anything this tool writes, and each ends somewhere far from the read as a traceback (an
``OverflowError`` in numpy, "not in 'int' range" in Blender). Refused here, at the read, as a ``NotFinite``.
"""

from __future__ import annotations

import json
import math

MAX_INT_DIGITS = 19
"""An integer of more digits is beyond int64: no frame, size or count this tool writes is."""


class NotFinite(ValueError):
    """A JSON number that is not finite: NaN, Infinity, or beyond float (``1e999``) or int64."""


def strict_json(text: str | bytes, bounded_ints: bool = False):
    """``json.loads`` refusing non-finite numbers, and with ``bounded_ints`` integers beyond int64."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float,
                      parse_int=_bounded_int if bounded_ints else int)  # fmt: skip


def _no_constant(name: str):
    raise NotFinite(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(f"{text[:20]} is not a finite number")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NotFinite(f"{text[:20]}... is beyond any number this tool writes")
    return int(text)
