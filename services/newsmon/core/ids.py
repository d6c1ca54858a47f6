"""Deterministic identifiers: the same input always gets the same id (idempotence by design)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING = re.compile(r"^(utm_|fbclid$|gclid$|mc_)")


def digest(*parts: object, length: int = 16) -> str:
    """A short hex SHA-256 of the parts, separated unambiguously."""
    h = hashlib.sha256()
    for part in parts:
        data = str(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:length]


def slugify(text: str) -> str:
    """'Recep Tayyip Erdoğan' -> 'recep-tayyip-erdogan' (ASCII, lowercase, hyphens)."""
    norm = unicodedata.normalize("NFKD", text)
    ascii_ = norm.encode("ascii", "ignore").decode("ascii").lower()
    ascii_ = re.sub(r"['’`]", "", ascii_)
    return re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-") or digest(text, length=8)


def normalise_url(url: str) -> str:
    """Lowercase scheme and host, drop fragments, tracking parameters and a trailing slash."""
    parts = urlsplit(url.strip())
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k)))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))
