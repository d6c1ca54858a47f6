"""Held state (core/faustapp.py HeldState): a stateful agent's state changes written for several
batches at once, its inputs acked only after that write."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit.core.test_batching import FakeStream

from newsmon.core import faustapp
from newsmon.core.faustapp import HeldState, for_each_batch, settlers


class Agent:
    """A stateful agent as for_each_batch sees it: `process` stages, `write` applies."""

    def __init__(self, stream: FakeStream, fail_writes: int = 0) -> None:
        self.stream = stream
        self.staged: list[int] = []  # values whose state is staged, not written
        self.written: list[int] = []  # values whose state is written
        self.batches: list[list[int]] = []
        self.writes: list[list[int]] = []  # the values each write applied
        self.acked_at_write: list[int] = []  # acks seen when each write began
        self.dropped: list[list[int]] = []
        self.fail_writes = fail_writes

    async def process(self, events: list[Any]) -> None:
        values = [e.value for e in events]
        self.batches.append(values)
        self.staged.extend(values)

    async def write(self) -> None:
        self.acked_at_write.append(len(self.stream.acked))
        if self.fail_writes:
            self.fail_writes -= 1
            raise RuntimeError("broker away")
        self.writes.append(list(self.staged))
        self.written.extend(self.staged)
        self.staged.clear()

    def drop(self) -> None:
        self.dropped.append(list(self.staged))
        self.staged.clear()

    def held(self, interval: float, max_events: int = 256) -> HeldState:
        return HeldState(self.write, self.drop, interval, max_events)


async def _feed(stream: FakeStream, values: list[int], gap: float) -> None:
    for n in values:
        stream.channel.queue.put_nowait(n)
        await asyncio.sleep(gap)


async def _run_agent(agent: Agent, state: HeldState, body: Any) -> None:
    """Run for_each_batch with `state` while `body()` feeds it; then end the stream."""
    task = asyncio.ensure_future(for_each_batch(agent.stream, agent.process, state=state))
    try:
        await body()
    finally:
        agent.stream.channel.queue.put_nowait(None)
        await asyncio.wait_for(task, 5)


async def test_state_is_written_once_for_the_batches_of_an_interval_and_inputs_acked_after() -> (
    None
):
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, list(range(20)), 0.01)  # about 20 batches in 0.2 s
        await asyncio.sleep(0.3)  # the ticker writes what is left

    await _run_agent(agent, agent.held(0.1), body)
    assert [n for b in agent.batches for n in b] == list(range(20))
    assert agent.written == list(range(20)) and agent.staged == []
    # Fewer writes than batches: each write applied several batches at once.
    assert 1 < len(agent.writes) < len(agent.batches)
    assert max(len(w) for w in agent.writes) >= 3
    # Every event acked, in order, and only after its state was written: when a write began,
    # exactly the events of the earlier writes were acked.
    assert stream.acked == list(range(20))
    written_before = [sum(len(w) for w in agent.writes[:i]) for i in range(len(agent.writes))]
    assert agent.acked_at_write == written_before


async def test_a_quiet_stream_has_its_state_written_after_the_interval() -> None:
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, [1, 2], 0.0)
        await asyncio.sleep(0.02)
        assert agent.written == [] and stream.acked == []  # held, nothing acked
        await asyncio.sleep(0.3)
        assert agent.written == [1, 2] and stream.acked == [1, 2]

    await _run_agent(agent, agent.held(0.1), body)


async def test_interval_zero_writes_after_every_batch() -> None:
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, [1, 2, 3], 0.01)
        await asyncio.sleep(0.02)

    await _run_agent(agent, agent.held(0.0), body)
    assert agent.writes == agent.batches == [[1], [2], [3]]
    assert stream.acked == [1, 2, 3]


async def test_a_full_hold_is_written_before_the_interval() -> None:
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, list(range(6)), 0.005)
        await asyncio.sleep(0.02)
        # At most 4 events held: written at 4, long before the 60 s interval.
        assert agent.writes and len(agent.writes[0]) == 4 and stream.acked[:4] == [0, 1, 2, 3]
        assert stream.acked == [0, 1, 2, 3]  # the last two are still held

    await _run_agent(agent, agent.held(60.0, max_events=4), body)


async def test_a_revocation_drops_the_held_state_and_leaves_its_inputs_unacked() -> None:
    """The revoked partitions are read again from their committed offsets (ProcessedLedger):
    the held events are neither written nor acked; later batches are."""
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, [1, 2], 0.01)
        stream.app._newsmon_revocations = 1  # what the app's revocation handler counts
        await _feed(stream, [3], 0.01)
        await asyncio.sleep(0.3)

    await _run_agent(agent, agent.held(0.1), body)
    assert agent.dropped == [[1, 2]]
    assert agent.written == [3] and stream.acked == [3]


async def test_a_failed_write_is_tried_again_and_nothing_is_acked_before_it_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faustapp, "RETRY_DELAYS_S", (0.05, 0.05))
    stream = FakeStream(0.0)
    agent = Agent(stream, fail_writes=2)

    async def body() -> None:
        await _feed(stream, [1, 2], 0.0)
        await asyncio.sleep(0.12)
        assert stream.acked == []
        await asyncio.sleep(0.4)

    await _run_agent(agent, agent.held(0.05), body)
    assert agent.written == [1, 2] and stream.acked == [1, 2]
    assert agent.acked_at_write == [0, 0, 0]  # two failed attempts, then the write


async def test_the_apps_stop_writes_the_held_state_first() -> None:
    """`settlers(app)` are what make_app's stop runs before Faust stops its consumer."""
    stream = FakeStream(0.0)
    agent = Agent(stream)

    async def body() -> None:
        await _feed(stream, [1, 2], 0.01)
        await asyncio.sleep(0.01)
        assert agent.written == [] and len(settlers(stream.app)) == 1
        for settle in settlers(stream.app):
            await settle()
        assert agent.written == [1, 2] and stream.acked == [1, 2]
        # Once stopping, each later batch is written at once.
        await _feed(stream, [3], 0.01)
        await asyncio.sleep(0.01)
        assert agent.written == [1, 2, 3] and stream.acked == [1, 2, 3]

    await _run_agent(agent, agent.held(60.0), body)
    assert settlers(stream.app) == []  # the agent's loop ended: no longer registered


async def test_make_app_runs_the_settlers_before_fausts_own_stop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import faust

    from newsmon.core.config import Settings

    order: list[str] = []

    async def faust_stop(self: Any) -> None:
        order.append("faust")

    monkeypatch.setattr(faust.App, "on_stop", faust_stop)
    app = faustapp.make_app(
        "tracker", Settings(table_store="memory", state_dir=tmp_path), store="memory://"
    )

    async def settle() -> None:
        order.append("settle")

    async def failing() -> None:
        order.append("failing")
        raise RuntimeError("broker away")

    settlers(app).extend([settle, failing])
    await app.on_stop()
    # A settler that fails does not keep the app from stopping.
    assert order == ["settle", "failing", "faust"]
    assert faustapp.state_commit_interval(app) == Settings().state_commit_ms / 1000


def test_an_app_without_the_setting_writes_after_every_batch() -> None:
    assert faustapp.state_commit_interval(SimpleNamespace()) == 0.0
