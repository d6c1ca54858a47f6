"""Dead letters: every rejected input becomes a `DeadLetter` with a reason, never dropped."""

from __future__ import annotations

import base64
from typing import Any, NamedTuple

from newsmon.core.ids import digest
from newsmon.core.metrics import DEAD_LETTERS
from newsmon.core.models import DeadLetter, Position, utcnow

#: Kafka's default max message size is 1 MiB; a dead letter keeps at most this much payload.
MAX_PAYLOAD_BYTES = 256 * 1024


def dead_letter(
    stage: str,
    reason: str,
    detail: str,
    payload: bytes | str,
    *,
    source: str | None = None,
    file: str | None = None,
    line: int | None = None,
    article_id: str | None = None,
) -> DeadLetter:
    """Build (and count) a dead letter; its id is deterministic for one stage/reason/payload."""
    raw = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
    truncated = len(raw) > MAX_PAYLOAD_BYTES
    kept = raw[:MAX_PAYLOAD_BYTES]
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    DEAD_LETTERS.labels(stage=stage, reason=reason).inc()
    return DeadLetter(
        id=digest(stage, reason, raw, file, line),
        stage=stage,
        reason=reason,
        detail=detail,
        source=source,
        position=Position(file=file, line=line) if (file or line) else None,
        article_id=article_id,
        payload=text,
        payload_encoding=encoding,
        payload_truncated=truncated,
        failed_at=utcnow(),
    )


class Failed(NamedTuple):
    """What a stage gives instead of a result when one unit of work failed (a series date's
    record, an actor's tally applied after a batch): the error and what the dead letter
    carries, so that the agent dead-letters it and goes on with the rest."""

    error: str
    payload: Any
    article_id: str | None = None
