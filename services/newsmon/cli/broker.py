"""`newsmon broker start|stop|status`: the local single-node Kafka broker."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from newsmon.core.config import load_settings
from newsmon.ops import broker


def register(sub: Any) -> None:
    p = sub.add_parser("broker", help="start, stop or inspect the local Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status", "fetch"])
    p.add_argument("--kill", action="store_true", help="with stop: SIGKILL instead of SIGTERM")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.uses_local_broker and args.action != "fetch":
        print(
            f"NEWSMON_KAFKA_BOOTSTRAP is set ({settings.bootstrap}): newsmon uses that cluster "
            "and does not manage a local broker.",
            file=sys.stderr,
        )
        if args.action == "status":
            print(settings.bootstrap)
            return 0
        return 2
    try:
        if args.action == "fetch":
            print(broker.fetch_jars())
        elif args.action == "start":
            print(broker.start(settings))
        elif args.action == "stop":
            print("stopped" if broker.stop(settings, kill=args.kill) else "not running")
        else:
            pid = broker.status(settings)
            if pid is None:
                print("not running", file=sys.stderr)
                return 1
            print(broker.local_bootstrap(settings))
    except broker.BrokerError as exc:
        print(f"newsmon broker: {exc}", file=sys.stderr)
        return 1
    return 0
