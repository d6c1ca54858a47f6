"""The consumer loop that delivers records without a task each (core/faustconsumer.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from mode.utils.queues import FlowControlEvent

from newsmon.core import faustconsumer
from newsmon.core.config import load_settings
from newsmon.core.faustapp import make_app


class _Queue:
    def __init__(self, full: bool = False) -> None:
        self.is_full = full

    def full(self) -> bool:
        return self.is_full


class _Pending:
    n = 0

    def qsize(self) -> int:
        return self.n


def _consumer(tp: str = "t0", batches: list[list[Any]] | None = None) -> Any:
    """A stand-in for Faust's consumer with what the loop and the check read."""
    flow = FlowControlEvent(initially_suspended=False)
    chan = SimpleNamespace(queue=_Queue())
    conductor = SimpleNamespace(
        _tp_to_callback_lock=asyncio.Lock(),
        _tp_index={tp: [chan]},
        acks_enabled_for=lambda topic: True,
    )
    app = SimpleNamespace(
        flow_control=flow,
        producer=SimpleNamespace(buffer=SimpleNamespace(pending=_Pending(), max_messages=100)),
        conf=SimpleNamespace(producer_threaded=False),
        topics=conductor,
    )
    c = SimpleNamespace(app=app, suspend_flow=asyncio.Event(), chan=chan)
    c.delivered, c.waited, c.commits, c.gaps = [], 0, 0, []
    c._stopped = asyncio.Event()
    c._read_offset = defaultdict(lambda: None)
    c._commit_every = 2
    c._n_acked = 0
    c.should_stop = False
    c.consumer_stopped_errors = ()
    c.diag = SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None)
    c.log = SimpleNamespace(info=lambda *a: None, exception=lambda *a: None)
    pending = list(batches or [])

    async def callback(message: Any) -> None:
        c.delivered.append(message.offset)
        c._n_acked += 1

    async def getmany(timeout: float) -> Any:
        if not pending:
            c._stopped.set()
            return
        for message in pending.pop(0):
            yield message.tp, message

    async def wait_first(*coros: Any) -> None:
        c.waited += 1
        await coros[0]
        coros[1].close()

    async def commit() -> None:
        c.commits += 1

    async def add_gap(tp: Any, start: int, end: int) -> None:
        c.gaps.append((start, end))

    async def sleep(s: float) -> None:
        await asyncio.sleep(s)

    c.callback, c.getmany, c.wait_first, c.commit = callback, getmany, wait_first, commit
    c._add_gap, c.sleep = add_gap, sleep
    return c


def _msg(tp: str, offset: int) -> Any:
    return SimpleNamespace(tp=tp, topic="t", offset=offset)


async def test_delivery_is_direct_only_when_nothing_can_make_it_wait() -> None:
    c = _consumer()
    assert faustconsumer.delivery_cannot_block(c, "t0")
    assert faustconsumer.delivery_cannot_block(c, "unassigned")  # no stream: nothing to fill

    c.chan.queue.is_full = True
    assert not faustconsumer.delivery_cannot_block(c, "t0")
    c.chan.queue.is_full = False

    c.app.producer.buffer.pending.n = 101
    assert not faustconsumer.delivery_cannot_block(c, "t0")
    c.app.producer.buffer.pending.n = 0

    c.app.flow_control.suspend()
    assert not faustconsumer.delivery_cannot_block(c, "t0")
    c.app.flow_control.resume()

    c.suspend_flow.set()
    assert not faustconsumer.delivery_cannot_block(c, "t0")
    c.suspend_flow.clear()

    async with c.app.topics._tp_to_callback_lock:
        assert not faustconsumer.delivery_cannot_block(c, "t0")
    assert faustconsumer.delivery_cannot_block(c, "t0")


async def test_loop_delivers_in_order_commits_and_falls_back_when_a_buffer_is_full() -> None:
    batches = [[_msg("t0", 0), _msg("t0", 1), _msg("t0", 2)], [_msg("t0", 5), _msg("t0", 6)]]
    c = _consumer(batches=batches)
    fetcher = SimpleNamespace(_stopped=asyncio.Event())

    original_callback = c.callback

    async def fill_after_two(message: Any) -> None:
        await original_callback(message)
        c.chan.queue.is_full = len(c.delivered) >= 2 and len(c.delivered) < 4

    c.callback = fill_after_two
    await faustconsumer._lean_drain_messages(c, fetcher)

    assert c.delivered == [0, 1, 2, 5, 6]
    # Records 3 and 4 (offsets 2 and 5) found the buffer full: Faust's path, the rest direct.
    assert c.waited == 2
    assert c._read_offset["t0"] == 6
    assert c.gaps == [(3, 5)]  # offsets 3 and 4 never came: tracked as a gap, as Faust does
    assert c.commits == 2  # every `broker_commit_every` (2) acks


async def test_a_record_already_read_is_not_delivered_again() -> None:
    c = _consumer(batches=[[_msg("t0", 3)], [_msg("t0", 2), _msg("t0", 4)]])
    await faustconsumer._lean_drain_messages(c, SimpleNamespace(_stopped=asyncio.Event()))
    assert c.delivered == [3, 4]


def test_services_apps_use_it_and_other_apps_keep_fausts_loop(tmp_path: Any) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_bootstrap="localhost:1")
    app = make_app("alerter", settings)
    assert app._newsmon_lean_drain is True
    assert getattr(Consumer._drain_messages, "_newsmon", False)
    faustconsumer.install(app)  # a second install keeps the one wrapper
    assert getattr(Consumer._drain_messages, "_newsmon", False)
