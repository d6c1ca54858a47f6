"""Batches of a stream's events (core/faustapp.py for_each_batch) and their linger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from newsmon.core.faustapp import for_each_batch


class FakeStream:
    """What for_each_batch uses of a Faust stream: noack(), channel.queue, events(), ack()."""

    def __init__(self, linger_s: float) -> None:
        self.app = SimpleNamespace(_newsmon_batch_linger=linger_s)
        self.channel = SimpleNamespace(queue=asyncio.Queue())
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[Any]:
        while True:
            n = await self.channel.queue.get()
            if n is None:
                return
            yield SimpleNamespace(value=n, message=SimpleNamespace(tp=("t", 0), offset=n))

    async def ack(self, event: Any) -> None:
        self.acked.append(event.value)


async def _run(linger_s: float, gaps_s: list[float], max_size: int = 500) -> list[list[int]]:
    stream = FakeStream(linger_s)
    batches: list[list[int]] = []

    async def process(events: list[Any]) -> None:
        batches.append([e.value for e in events])

    async def feed() -> None:
        for n, gap in enumerate(gaps_s):
            await asyncio.sleep(gap)
            stream.channel.queue.put_nowait(n)
        await asyncio.sleep(0.2)
        stream.channel.queue.put_nowait(None)

    await asyncio.gather(for_each_batch(stream, process, max_size=max_size), feed())
    assert stream.acked == [n for b in batches for n in b]  # every event acked after its batch
    return batches


async def test_records_arriving_one_by_one_are_gathered_within_the_linger() -> None:
    """Records handed over a millisecond apart make one batch, not one batch each."""
    batches = await _run(0.05, [0.0] + [0.001] * 9)
    assert [n for b in batches for n in b] == list(range(10))
    assert len(batches) <= 3


async def test_without_linger_each_record_that_finds_the_buffer_empty_is_a_batch() -> None:
    batches = await _run(0.0, [0.0] + [0.01] * 4)
    assert batches == [[0], [1], [2], [3], [4]]


async def test_a_batch_closes_when_the_next_record_is_later_than_the_linger() -> None:
    batches = await _run(0.01, [0.0, 0.001, 0.001, 0.05, 0.001])
    assert batches == [[0, 1, 2], [3, 4]]


async def test_a_steady_trickle_closes_batches_at_the_cap(monkeypatch: Any) -> None:
    """Records that keep coming within the linger are gathered for LINGER_CAP_S at most."""
    from newsmon.core import faustapp

    monkeypatch.setattr(faustapp, "LINGER_CAP_S", 0.04)
    batches = await _run(0.02, [0.0] + [0.004] * 49)
    assert [n for b in batches for n in b] == list(range(50))
    assert len(batches) >= 3 and max(len(b) for b in batches) <= 15


async def test_a_full_batch_does_not_wait() -> None:
    batches = await _run(1.0, [0.0] * 6, max_size=3)
    assert batches == [[0, 1, 2], [3, 4, 5]]
