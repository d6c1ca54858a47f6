"""`newsmon replay PATH...`: publish articles from files, folders and stdin in published-date order.

Exit codes: 0 all published; 1 something was rejected (unless --keep-going) or Kafka failed;
2 a usage problem (a PATH that does not exist, a bad option value).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from newsmon.core.config import load_settings
from newsmon.core.textsafe import clean

EPILOG = """\
PATH is a seed text file (starting with ' date YYYY-MM-DD '), a .json file (one article or an
array), a .jsonl file (one article per line), a folder (searched recursively; --glob picks the
files, default *.txt *.json *.jsonl *.ndjson), or - for standard input (format detected).

Articles are published in published_at order. Ids are deterministic, and ids this machine
already published to the cluster are skipped (reported as duplicates); the extractor also
deduplicates by id, so replaying twice never doubles results. Rejected inputs go to
news.articles.dlq with a reason and their file and line.

examples:
  newsmon replay seeds/
  newsmon replay --speed 3600 archive/ --since 2023-11-01 --until 2023-11-30
  cat articles.jsonl | newsmon replay - --source my-scraper --rate 50
"""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _date(end: bool) -> Any:
    from newsmon.ingester.replay import parse_bound

    def parse(text: str) -> Any:
        try:
            return parse_bound(text, end=end)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def register(sub: Any) -> None:
    """Add this module's subcommands to the `newsmon` parser."""
    p = sub.add_parser(
        "replay",
        help="publish articles from files, folders or stdin in published-date order",
        description="Publish articles to news.articles.raw in published-date order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder, or - for stdin")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=_positive,
        metavar="N",
        help="N seconds of news time per second of wall time (3600 = one hour per second)",
    )
    pace.add_argument("--rate", type=_positive, metavar="R", help="R articles per second")
    pace.add_argument(
        "--as-fast-as-possible",
        action="store_true",
        help="no pacing (the default)",
    )
    p.add_argument(
        "--since",
        type=_date(False),
        metavar="DATE",
        help="only articles published at or after DATE (YYYY-MM-DD or ISO date-time)",
    )
    p.add_argument(
        "--until",
        type=_date(True),
        metavar="DATE",
        help="only articles published before DATE; a plain date includes that whole day",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read and validate only: print what would be published, connect to nothing",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="exit 0 even if some inputs were rejected (they still go to the DLQ)",
    )
    p.add_argument(
        "--republish",
        action="store_true",
        help="send again the ids this machine already published (normally skipped)",
    )
    p.add_argument(
        "--source",
        metavar="NAME",
        help="source of seed files (default: the file name) and default for JSON articles",
    )
    p.add_argument("--glob", metavar="PATTERN", help="which files to take from folders")
    p.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    """The `replay` subcommand; returns the exit code."""
    from newsmon.core.intake.formats import InputError
    from newsmon.core.logs import configure
    from newsmon.ingester.replay import Pace, ReplayOptions, replay

    settings = load_settings()
    # The summary lists rejections, and aiokafka's retry warnings are noise on a terminal.
    level = "debug" if settings.log_level == "debug" else "error"
    configure("replay", level, settings.log_format)
    logging.getLogger("aiokafka").setLevel(level.upper())
    if args.speed:
        pace = Pace.speed(args.speed)
    elif args.rate:
        pace = Pace.rate(args.rate)
    else:
        pace = Pace.fast()
    if args.since and args.until and args.since >= args.until:
        print("newsmon replay: --since must be before --until", file=sys.stderr)
        return 2
    options = ReplayOptions(
        paths=args.paths,
        pace=pace,
        since=args.since,
        until=args.until,
        dry_run=args.dry_run,
        keep_going=args.keep_going,
        republish=args.republish,
        source=args.source,
        glob=args.glob,
    )
    if not args.dry_run:
        problem = _ensure_topics(settings)
        if problem:
            print(f"newsmon replay: {problem}", file=sys.stderr)
            return 1
    try:
        summary = asyncio.run(replay(settings, options))
    except InputError as exc:
        print(f"newsmon replay: {clean(str(exc), single_line=True)}", file=sys.stderr)
        return 2
    print(summary.render())
    code = summary.exit_code(args.keep_going)
    if summary.rejections and not args.keep_going:
        print(
            f"newsmon replay: {len(summary.rejections)} input(s) rejected (see above and "
            "news.articles.dlq); fix them and replay again (published articles are skipped), "
            "or pass --keep-going",
            file=sys.stderr,
        )
    return code


def _ensure_topics(settings: Any) -> str | None:
    """Create the contract topics if missing (the broker does not auto-create them)."""
    from newsmon.ops.topics import ensure_topics

    try:
        asyncio.run(ensure_topics(settings, timeout_s=15.0))
    except Exception as exc:  # any client error means the same to the user: Kafka is not there
        return (
            f"cannot reach Kafka at {settings.bootstrap} ({type(exc).__name__}: {exc}); start "
            "the local broker with `newsmon broker start`, or set NEWSMON_KAFKA_BOOTSTRAP"
        )
    return None
