"""`newsmon alerts`: subscribe to `news.alerts` and print alerts (a table, or JSON lines).

Any Kafka client can do the same: the topic holds one JSON `Alert` per record, keyed by id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from newsmon.core import topics
from newsmon.core.config import Settings, load_settings
from newsmon.core.kafka import client_kwargs
from newsmon.core.models import Alert
from newsmon.core.textsafe import clean

SEVERITIES = ("info", "warning", "critical")
KINDS = ("threshold", "change", "new_actor", "diplomatic_action", "tone_shift")
_COLOURS = {"critical": "\x1b[1;31m", "warning": "\x1b[33m", "info": "\x1b[36m"}


def register(sub: Any) -> None:
    """Add `alerts` to the `newsmon` parser."""
    p = sub.add_parser("alerts", help="print alerts from news.alerts (table or --json lines)")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest alert")
    p.add_argument("--follow", action="store_true", help="keep waiting for new alerts")
    p.add_argument("--kind", action="append", choices=KINDS, help="only this kind (repeatable)")
    p.add_argument("--min-severity", choices=SEVERITIES, default="info")
    p.add_argument("--json", action="store_true", help="one JSON alert per line")
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="exit after S seconds without a new alert (default 10; ignored with --follow)",
    )
    p.set_defaults(func=run_alerts)


def selected(alert: Alert, kinds: list[str] | None, min_severity: str) -> bool:
    """Whether an alert passes the --kind and --min-severity filters."""
    return (not kinds or alert.kind in kinds) and SEVERITIES.index(
        alert.severity
    ) >= SEVERITIES.index(min_severity)


def format_row(alert: Alert, colour: bool = False) -> str:
    """One table row: event time, severity, kind, status and title (control characters removed)."""
    sev = f"{alert.severity:<8}"
    if colour:
        sev = f"{_COLOURS.get(alert.severity, '')}{sev}\x1b[0m"
    status = "" if alert.status == "firing" else "[resolved] "
    when = alert.event_time.strftime("%Y-%m-%d %H:%M")
    return f"{when}  {sev}  {alert.kind:<17}  {status}{clean(alert.title, single_line=True)}"


HEADER = f"{'EVENT TIME':<16}  {'SEVERITY':<8}  {'KIND':<17}  TITLE"


async def consume(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print alerts until the idle timeout (or forever with --follow); the number printed."""
    consumer = AIOKafkaConsumer(
        topics.topic_name(topics.ALERTS, settings.topic_prefix),
        group_id=None,  # a reader, not a member: nothing is committed
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False,
        **client_kwargs(settings),
    )
    await consumer.start()
    printed = 0
    seen: set[str] = set()
    table = not args.json
    colour = table and out.isatty()
    try:
        last = time.monotonic()
        header_done = False
        while args.follow or time.monotonic() - last < args.idle_timeout:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    last = time.monotonic()
                    try:
                        alert = Alert.model_validate_json(record.value or b"")
                    except (ValidationError, ValueError):
                        print(
                            f"newsmon alerts: skipping an invalid record at offset {record.offset}",
                            file=sys.stderr,
                        )
                        continue
                    # A producer retry can write one alert twice; a subscriber shows it once.
                    if alert.id + alert.status in seen or not selected(
                        alert, args.kind, args.min_severity
                    ):
                        continue
                    seen.add(alert.id + alert.status)
                    if table and not header_done:
                        print(HEADER, file=out)
                        header_done = True
                    if args.json:
                        print(
                            json.dumps(alert.model_dump(mode="json"), ensure_ascii=False), file=out
                        )
                    else:
                        print(format_row(alert, colour), file=out)
                    out.flush()
                    printed += 1
    finally:
        await consumer.stop()
    return printed


def run_alerts(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        printed = asyncio.run(consume(args, settings, sys.stdout))
    except BrokenPipeError:
        # The reader went away (`newsmon alerts | head`): that is a normal end.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not args.json and printed == 0:
        print("no alerts", file=sys.stderr)
    return 0
