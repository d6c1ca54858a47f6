"""Structured logging for every process: key/value on a terminal, JSON lines otherwise.

Library logs (Faust, aiokafka) go through the same renderer. While an article is processed its
id is bound with `bound_article(...)` and appears in every log line.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(fmt: Literal["auto", "json", "console"]) -> Any:
    if fmt == "console" or (fmt == "auto" and sys.stderr.isatty()):
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer()


def logging_config(
    level: str = "info", fmt: Literal["auto", "json", "console"] = "auto"
) -> dict[str, Any]:
    """A dictConfig that renders stdlib records (Faust, aiokafka) with structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _renderer(fmt),
                ],
                "foreign_pre_chain": _SHARED,
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structlog",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # aiokafka is chatty about routine reconnects at INFO.
            "aiokafka": {"level": "WARNING"},
            "kafka": {"level": "WARNING"},
        },
    }


def configure(
    service: str, level: str = "info", fmt: Literal["auto", "json", "console"] = "auto"
) -> None:
    """Configure structlog and stdlib logging for one process."""
    logging.config.dictConfig(logging_config(level, fmt))
    structlog.configure(
        processors=[
            # Drops a call below the level before any work (the tracker logs every update at
            # debug).
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def bound_article(article_id: str | None) -> Iterator[None]:
    """Bind the article id into every log line emitted inside the block."""
    with structlog.contextvars.bound_contextvars(article_id=article_id):
        yield
