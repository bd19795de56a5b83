"""How any text (a path, a typed value, a file's contents, an exception) is shown in one line.

The contract of every command and operator is one clear line: a path or a value from anywhere may hold line
breaks, control characters or lone surrogates, and those are shown escaped, never printed raw.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def one_line(text, limit: int | None = None) -> str:
    """``text`` escaped to one printable line; with ``limit``, of at most about that many characters (the
    middle elided)."""
    text = _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], str(text))
    if limit is None or len(text) <= limit:
        return text
    return f"{text[: limit // 2]}...{text[-(limit // 2) :]}"
