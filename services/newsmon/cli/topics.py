"""`newsmon topics create|list` and `newsmon schemas export|check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from newsmon.core import schemas, topics
from newsmon.core.config import load_settings


def register(sub: Any) -> None:
    p = sub.add_parser("topics", help="create or list the contract topics")
    p.add_argument("action", choices=["create", "list"])
    p.set_defaults(func=run_topics)
    s = sub.add_parser("schemas", help="export JSON Schemas + AsyncAPI, or check them for drift")
    s.add_argument("action", choices=["export", "check"])
    s.add_argument("--dir", type=Path, default=Path("schemas"), help="default: ./schemas")
    s.set_defaults(func=run_schemas)


def run_topics(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.action == "list":
        for spec in topics.TOPICS.values():
            print(
                f"{topics.topic_name(spec, settings.topic_prefix):<24} partitions={spec.partitions}"
                f" key={spec.key_field:<11} cleanup={spec.cleanup_policy:<8} "
                f"value={getattr(spec.value_model, '__name__', 'ActorRecord')}"
            )
        return 0
    from newsmon.ops.topics import ensure_topics_sync

    bad = 0
    for state in ensure_topics_sync(settings):
        verb = "created" if state.created else "exists"
        print(f"{state.name:<24} {verb:<8} partitions={state.partitions}")
        if state.problem:
            print(f"  problem: {state.problem}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def run_schemas(args: argparse.Namespace) -> int:
    if args.action == "export":
        for path in schemas.export(args.dir):
            print(path)
        return 0
    drifted = schemas.drift(args.dir)
    if drifted:
        print(
            "schemas out of date: " + ", ".join(drifted) + " — run `newsmon schemas export`",
            file=sys.stderr,
        )
        return 1
    print("schemas up to date")
    return 0
