"""Article text that reaches a terminal or an alert title is stripped of control characters."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls (ESC included) except tab and newline, and Unicode bidi overrides.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, *, single_line: bool = False, limit: int | None = None) -> str:
    """Remove control characters (no terminal escape injection); optionally fold to one line."""
    out = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    if single_line:
        out = " ".join(out.split())
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)].rstrip() + "…"
    return out
