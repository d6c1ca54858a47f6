"""End to end: broker + the four services as processes; the seed in, alerts out."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.helpers import ROOT, StackUnderTest, publish

from newsmon.core import models, topics
from newsmon.core.config import SERVICES, Settings

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture
def stack(kafka_settings: Callable[..., Settings]) -> Iterator[StackUnderTest]:
    """The stack started with `newsmon up` against the session broker (topics included)."""
    s = StackUnderTest(kafka_settings())
    try:
        up = s.newsmon("up")
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        down = s.newsmon("down")
        assert down.returncode == 0, down.stderr


def test_up_status_down_manage_one_process_per_service(stack: StackUnderTest) -> None:
    """`up` twice starts no duplicates; `status` shows pid, URL and health; `down` stops all."""
    pids = {svc: stack.pid(svc) for svc in SERVICES}
    assert all(pids.values()), pids
    again = stack.newsmon("up")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert {svc: stack.pid(svc) for svc in SERVICES} == pids
    for svc, pid in pids.items():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert f"newsmon run {svc}" in cmdline
    status = stack.newsmon("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for svc in SERVICES:
        line = next(x for x in status.stdout.splitlines() if x.startswith(svc))
        assert "ok" in line and str(pids[svc]) in line
        assert f":{stack.settings.port_of(svc)}/metrics" in line
    # Metrics and HTTP endpoints listen on loopback only (NEWSMON_BIND_HOST's default).
    listening = _listening_addresses()
    for svc in SERVICES:
        assert listening.get(stack.settings.port_of(svc)) == {"127.0.0.1"}, svc
    down = stack.newsmon("down")
    assert down.returncode == 0
    assert all(stack.pid(svc) is None for svc in SERVICES)


def _listening_addresses() -> dict[int, set[str]]:
    """Port -> local addresses of the TCP sockets listening on this machine (/proc/net/tcp*)."""
    import ipaddress

    out: dict[int, set[str]] = {}
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(addr_hex)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = [raw[i : i + 4][::-1] for i in range(0, size, 4)]
            addr = ipaddress.ip_address(b"".join(words))
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            out.setdefault(int(port_hex, 16), set()).add(str(addr))
    return out


def _alerts(stack: StackUnderTest) -> list[models.Alert]:
    return [a for a in stack.read(topics.ALERTS) if isinstance(a, models.Alert)]


def test_seed_replay_produces_the_expected_alerts_once(stack: StackUnderTest) -> None:
    """The seed gives aid-truck change, Turkey→Israel 161, new-actor alerts; a replay adds none."""
    res = stack.replay(str(ROOT / "seeds"), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    stack.drain()

    entities = stack.read(topics.ENTITIES)
    assert len(entities) == 1 and entities[0].entities

    alerts = _alerts(stack)
    assert alerts, "no alert on news.alerts"
    ids = [a.id for a in alerts]
    assert len(ids) == len(set(ids)), "an alert was published twice"

    change = [a for a in alerts if a.kind == "change" and a.metric and "truck" in a.metric]
    assert change, f"no aid-truck change alert in {[a.title for a in alerts]}"
    values = [v.value for v in change[0].values or []]
    assert 100 in values and 30 in values

    diplomatic = [
        a
        for a in alerts
        if a.kind == "diplomatic_action"
        and a.cameo
        and a.cameo.startswith("16")
        and a.actor
        and a.actor.name == "Turkey"
        and a.target
        and a.target.name == "Israel"
    ]
    assert diplomatic, f"no Turkey→Israel 16x alert in {[a.title for a in alerts]}"

    new_actor = [a for a in alerts if a.kind == "new_actor"]
    subjects = collections.Counter(a.subject for a in new_actor)
    assert new_actor and max(subjects.values()) == 1, subjects

    # A second replay of the same files adds no alert and no second set of results.
    res = stack.replay(str(ROOT / "seeds"), "--as-fast-as-possible")
    assert res.returncode == 0, res.stdout + res.stderr
    stack.drain()
    assert len(_alerts(stack)) == len(alerts)
    assert len(stack.read(topics.ENTITIES)) == 1

    # The same record published again straight to Kafka (bypassing any replay-side index)
    # is recognised downstream by its id.
    raw = stack.read(topics.ARTICLES_RAW)
    publish(stack.settings, topics.ARTICLES_RAW, raw[0], key=raw[0].id)
    stack.drain()
    assert len(stack.read(topics.ENTITIES)) == 1
    assert len(_alerts(stack)) == len(alerts)
