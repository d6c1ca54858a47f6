"""The local stack: broker + topics + the four services (+ Prometheus when installed).

Each service runs as its own process whose command line is `newsmon run <service>`, with its
pid file under `<state>/run/` and its log under `<state>/logs/`. `up` starts whatever is not
running and leaves the rest alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsmon.core import topics
from newsmon.core.config import SERVICES, Settings, to_env
from newsmon.core.kafka import client_kwargs
from newsmon.ops import broker, procs
from newsmon.ops.paths import deploy_dir, state_path


def _newsmon_argv(service: str) -> list[str]:
    script = Path(sys.executable).with_name("newsmon")
    if script.exists():
        return [sys.executable, str(script), "run", service]
    found = shutil.which("newsmon")
    if found:
        return [sys.executable, found, "run", service]
    return [sys.executable, "-m", "newsmon.cli.main", "run", service]


def marker(service: str) -> str:
    return f"run {service}"


def pidfile(settings: Settings, service: str) -> Path:
    return state_path(settings, "run", f"{service}.pid")


def logfile(settings: Settings, service: str) -> Path:
    return state_path(settings, "logs", f"{service}.log")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    url: str
    health: str
    detail: dict[str, Any]


def health(settings: Settings, service: str, timeout: float = 2.0) -> tuple[str, dict[str, Any]]:
    """('ok' | 'starting' | 'down', details) from the service's /health page."""
    url = f"http://{settings.bind_host}:{settings.port_of(service)}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data = json.loads(resp.read().decode())
            return str(data.get("status", "unknown")), data
    except (urllib.error.URLError, OSError, ValueError):
        return "down", {}


def service_status(settings: Settings, service: str) -> ServiceStatus:
    pid = procs.running_pid(pidfile(settings, service), marker(service))
    state, detail = health(settings, service) if pid else ("stopped", {})
    url = f"http://{settings.bind_host}:{settings.port_of(service)}/metrics"
    return ServiceStatus(service, pid, url, state, detail)


def start_service(settings: Settings, service: str) -> tuple[int, bool]:
    """Start one service unless it runs. Returns (pid, started_now)."""
    pid = procs.running_pid(pidfile(settings, service), marker(service))
    if pid is not None:
        return pid, False
    env = {**os.environ, **to_env(settings)}
    if settings.log_format == "auto":
        env["NEWSMON_LOG_FORMAT"] = "json"
    # Unbuffered: the log file has every line up to a crash (a buffered stdout loses the last
    # lines to a SIGKILL, just those that tell what the service was doing).
    env["PYTHONUNBUFFERED"] = "1"
    proc = procs.spawn(
        _newsmon_argv(service), pidfile(settings, service), logfile(settings, service), env=env
    )
    return proc.pid, True


def stop_service(settings: Settings, service: str, kill: bool = False) -> bool:
    import signal

    pid = procs.running_pid(pidfile(settings, service), marker(service))
    if pid is None:
        return False
    procs.terminate(
        pid, marker(service), timeout=30.0, sig=signal.SIGKILL if kill else signal.SIGTERM
    )
    pidfile(settings, service).unlink(missing_ok=True)
    return True


def wait_healthy(settings: Settings, services: tuple[str, ...], timeout: float = 180.0) -> None:
    """Wait until every service's /health says ok; raise with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    time.sleep(1.0)  # let freshly forked processes exec before their command lines are checked
    while pending and time.monotonic() < deadline:
        for svc in list(pending):
            pid = procs.running_pid(pidfile(settings, svc), marker(svc))
            if pid is None:
                raise RuntimeError(
                    f"{svc} exited during start; last lines of {logfile(settings, svc)}:\n"
                    + procs.tail(logfile(settings, svc), 25)
                )
            if health(settings, svc)[0] == "ok":
                pending.remove(svc)
        time.sleep(0.5)
    if pending:
        raise RuntimeError(
            f"not healthy after {timeout:.0f}s: {', '.join(pending)}; see "
            + ", ".join(str(logfile(settings, s)) for s in pending)
        )


# --- Prometheus -------------------------------------------------------------------------------

PROMETHEUS_MARKER = "--storage.tsdb.path"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def render_prometheus_config(settings: Settings, scrape_interval: str = "5s") -> Path:
    """deploy/prometheus/prometheus.local.yml with this stack's host, ports and rules folder."""
    from string import Template

    src = deploy_dir() / "prometheus" / "prometheus.local.yml"
    values = {f"{svc}_port": settings.port_of(svc) for svc in SERVICES}
    text = Template(src.read_text()).substitute(
        host=settings.bind_host,
        rules_dir=deploy_dir() / "prometheus" / "rules",
        scrape_interval=scrape_interval,
        **values,
    )
    out = state_path(settings, "prometheus", "prometheus.yml")
    out.write_text(text)
    return out


def start_prometheus(settings: Settings, scrape_interval: str = "5s") -> int | None:
    """Start Prometheus on `prometheus_port` with its data under the state folder (if installed).

    Retention is bounded by size rather than age: series backfilled in news time
    (`promtool tsdb create-blocks-from openmetrics`, see docs/monitoring.md) are years older
    than the scraped data and an age limit would delete them at once.
    """
    binary = prometheus_binary()
    if binary is None:
        return None
    pf = state_path(settings, "run", "prometheus.pid")
    pid = procs.running_pid(pf, PROMETHEUS_MARKER)
    if pid is not None:
        return pid
    cfg = render_prometheus_config(settings, scrape_interval)
    data = state_path(settings, "prometheus", "data", "x").parent
    argv = [
        binary,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address={settings.bind_host}:{settings.prometheus_port}",
        "--storage.tsdb.retention.time=100y",
        "--storage.tsdb.retention.size=2GB",
    ]
    proc = procs.spawn(argv, pf, state_path(settings, "logs", "prometheus.log"))
    # Right after exec, /proc/<pid>/cmdline is briefly empty and a pid check (which matches the
    # command line) would take the new process for a stale one and delete its pid file.
    deadline = time.monotonic() + 5.0
    while proc.poll() is None and not procs.pid_alive(proc.pid, PROMETHEUS_MARKER):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return proc.pid


def prometheus_pid(settings: Settings) -> int | None:
    return procs.running_pid(state_path(settings, "run", "prometheus.pid"), PROMETHEUS_MARKER)


def stop_prometheus(settings: Settings) -> bool:
    pid = prometheus_pid(settings)
    if pid is None:
        return False
    procs.terminate(pid, PROMETHEUS_MARKER, timeout=20)
    return True


# --- Draining ---------------------------------------------------------------------------------

#: Which contract topics each service's consumer group reads.
INPUTS: dict[str, tuple[topics.TopicSpec, ...]] = {
    "extractor": (topics.ARTICLES_RAW,),
    "tracker": (topics.ENTITIES, topics.OBSERVATIONS, topics.EVENTS),
    "alerter": (topics.METRICS, topics.ACTORS, topics.EVENTS),
}


async def group_lag(settings: Settings) -> dict[str, int]:
    """Uncommitted records per service group on its input topics."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        lags: dict[str, int] = {}
        all_topics = await admin.list_topics()
        for svc, specs in INPUTS.items():
            group = f"{settings.topic_prefix}newsmon-{svc}"
            # The group's internal re-keying topics (`<group>-...`) count too, not its table
            # changelogs, which are only read on recovery.
            names = [topics.topic_name(spec, settings.topic_prefix) for spec in specs] + [
                t for t in all_topics if t.startswith(f"{group}-") and not t.endswith("-changelog")
            ]
            tps = []
            for name in names:
                parts = consumer.partitions_for_topic(name) or set()
                if not parts:
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(name) or set()
                tps += [TopicPartition(name, p) for p in parts]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(tps)
            lag = 0
            for tp in tps:
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(0, ends[tp] - done)
            lags[svc] = lag
        return lags
    finally:
        await consumer.stop()
        await admin.close()


def drain(settings: Settings, timeout: float = 300.0, quiet: bool = False) -> dict[str, int]:
    """Wait until every group has consumed its inputs (lag 0 twice in a row)."""
    deadline = time.monotonic() + timeout
    zero_streak = 0
    lags: dict[str, int] = {}
    last_print = 0.0
    while time.monotonic() < deadline:
        lags = asyncio.run(group_lag(settings))
        if all(v == 0 for v in lags.values()):
            zero_streak += 1
            if zero_streak >= 3:
                return lags
        else:
            zero_streak = 0
        if not quiet and time.monotonic() - last_print > 5:
            print("newsmon: waiting for the pipeline: lag " + json.dumps(lags), flush=True)
            last_print = time.monotonic()
        time.sleep(1.0)
    raise TimeoutError(f"pipeline did not drain within {timeout:.0f}s: lag {lags}")


# --- up / down --------------------------------------------------------------------------------


def up(settings: Settings, services: tuple[str, ...] = SERVICES, wait: bool = True) -> None:
    if settings.uses_local_broker:
        addr = broker.start(settings)
        print(f"broker      {addr}", flush=True)
    else:
        print(f"broker      {settings.bootstrap} (existing cluster)", flush=True)
    for state in asyncio.run(_ensure(settings)):
        if state.problem:
            print(f"warning: topic {state.name} {state.problem}", file=sys.stderr)
    for svc in services:
        pid, started = start_service(settings, svc)
        print(f"{svc:<11} pid {pid} {'started' if started else 'already running'}", flush=True)
    ppid = start_prometheus(settings)
    if ppid:
        print(f"prometheus  pid {ppid} http://{settings.bind_host}:{settings.prometheus_port}")
    if wait:
        t0 = time.monotonic()
        wait_healthy(settings, services)
        print(f"all services healthy ({time.monotonic() - t0:.1f}s)", flush=True)


async def _ensure(settings: Settings) -> list[Any]:
    from newsmon.ops.topics import ensure_topics

    return await ensure_topics(settings)


def down(settings: Settings, keep_broker: bool = False) -> None:
    for svc in reversed(SERVICES):
        if stop_service(settings, svc):
            print(f"{svc:<11} stopped", flush=True)
    if stop_prometheus(settings):
        print("prometheus  stopped", flush=True)
    if settings.uses_local_broker and not keep_broker and broker.stop(settings):
        print("broker      stopped", flush=True)
