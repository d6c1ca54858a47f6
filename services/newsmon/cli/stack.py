"""`newsmon up|down|status|run|drain`: the local stack and its services."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from newsmon.core.config import SERVICES, load_settings
from newsmon.ops import broker, stack


def register(sub: Any) -> None:
    p = sub.add_parser("up", help="start broker, topics, the four services (+ Prometheus)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for health")
    p.set_defaults(func=run_up)
    d = sub.add_parser("down", help="stop the services, Prometheus and the local broker")
    d.add_argument("--keep-broker", action="store_true")
    d.set_defaults(func=run_down)
    s = sub.add_parser("status", help="pid, metrics URL and health of every process")
    s.set_defaults(func=run_status)
    r = sub.add_parser("run", help="run one service in the foreground")
    r.add_argument("service", choices=SERVICES)
    r.set_defaults(func=run_service)
    w = sub.add_parser("drain", help="wait until every service has consumed its inputs")
    w.add_argument("--timeout", type=float, default=300.0)
    w.set_defaults(func=run_drain)


def run_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        stack.up(settings, wait=not args.no_wait)
    except (broker.BrokerError, RuntimeError) as exc:
        print(f"newsmon up: {exc}", file=sys.stderr)
        return 1
    print("stop everything with `newsmon down` (or `make down`)")
    return 0


def run_down(args: argparse.Namespace) -> int:
    stack.down(load_settings(), keep_broker=args.keep_broker)
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.uses_local_broker:
        pid = broker.status(settings)
        where = broker.local_bootstrap(settings) if pid else "-"
        print(f"{'broker':<11} {'running' if pid else 'stopped':<8} pid {pid or '-':<8} {where}")
    else:
        print(f"{'broker':<11} external {settings.bootstrap}")
    code = 0
    for svc in SERVICES:
        st = stack.service_status(settings, svc)
        print(f"{svc:<11} {st.health:<8} pid {st.pid or '-':<8} {st.url}")
        if st.health != "ok":
            code = 1
    ppid = stack.prometheus_pid(settings)
    if ppid:
        print(
            f"{'prometheus':<11} running  pid {ppid:<8} "
            f"http://{settings.bind_host}:{settings.prometheus_port}"
        )
    return code


def run_service(args: argparse.Namespace) -> int:
    import asyncio

    from newsmon.core.kafka import KafkaUnavailable, check_connection

    settings = load_settings()
    try:
        asyncio.run(check_connection(settings))
    except KafkaUnavailable as exc:
        print(f"newsmon run {args.service}: {exc}", file=sys.stderr)
        return 2
    from newsmon.core import watchdog

    module = importlib.import_module(f"newsmon.{args.service}.main")
    try:
        module.run(settings)
    finally:
        if watchdog.restart_requested():
            watchdog.exec_self()  # the stall watchdog stopped the worker: start afresh
    return 0


def run_drain(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        lags = stack.drain(settings, timeout=args.timeout)
    except TimeoutError as exc:
        print(f"newsmon drain: {exc}", file=sys.stderr)
        return 1
    print("pipeline drained: " + ", ".join(f"{k} lag {v}" for k, v in lags.items()))
    return 0
