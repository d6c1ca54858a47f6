"""Faust's consumer loop without a task per record: it set the rate of a service reading many
small records (the alerter).

Faust's fetch loop hands each record to the conductor inside
`wait_first(callback(message), suspend_flow.wait())`: four tasks and a turn of the event loop
per record (22 µs in isolation), so that a delivery blocked on a full stream buffer can be
abandoned at a rebalance. `_lean_drain_messages` calls the conductor directly when the delivery
cannot block: the flow is not suspended (no rebalance), the producer buffer is below its limit,
no subscription change holds the conductor's lock and every stream buffer of the record's
partition has room. Otherwise it takes Faust's path unchanged. Everything else (read offsets,
gap tracking, commits every `broker_commit_every` acks, yielding every 100 records) is Faust's
loop as it is in faust-streaming 0.11.

`install(app)` (from `faustapp.make_app`) puts it in place once per process; apps built
without it (tests' own apps) keep Faust's loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

#: Records delivered between two yields to the event loop (Faust's value).
YIELD_EVERY = 100


def install(app: Any) -> None:
    """Give `app`'s consumer the lean record delivery."""
    from faust.transport.consumer import Consumer

    app._newsmon_lean_drain = True
    if getattr(Consumer._drain_messages, "_newsmon", False):
        return
    drain = Consumer._drain_messages

    async def drain_messages(self: Any, fetcher: Any) -> None:
        if getattr(self.app, "_newsmon_lean_drain", False):
            await _lean_drain_messages(self, fetcher)
        else:
            await drain(self, fetcher)

    drain_messages._newsmon = True  # type: ignore[attr-defined]
    Consumer._drain_messages = drain_messages  # type: ignore[method-assign]


def _buffered(app: Any, buffer: Any) -> int:
    """Records waiting in the producer buffer (`buffer.size` reads a setting at each call)."""
    threaded: bool | None = getattr(app, "_newsmon_producer_threaded", None)
    if threaded is None:
        threaded = app._newsmon_producer_threaded = bool(app.conf.producer_threaded)
    return int(buffer.size if threaded else buffer.pending.qsize())


def delivery_cannot_block(consumer: Any, tp: Any) -> bool:
    """True when handing a record of `tp` to its streams completes without waiting.

    The conductor's callback waits only for: flow control (suspended during a rebalance), a
    producer buffer over its limit, the lock held while subscriptions change, and a full
    stream buffer. With none of these it puts the event and returns.
    """
    app = consumer.app
    if consumer.suspend_flow.is_set() or not app.flow_control.is_active():
        return False
    buffer = app.producer.buffer
    if _buffered(app, buffer) > buffer.max_messages:
        return False
    conductor = app.topics
    if conductor._tp_to_callback_lock.locked():
        return False
    return not any(chan.queue.full() for chan in conductor._tp_index.get(tp, ()))


async def _lean_drain_messages(self: Any, fetcher: Any) -> None:
    """Faust's `Consumer._drain_messages` with a direct call for deliveries that cannot block."""
    from faust.transport.consumer import CONSUMER_FETCHING

    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    since_yield = 0
    sleep = asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(Any, getmany(timeout=1.0))
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await sleep(0)
                        since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if delivery_cannot_block(self, tp):
                            await callback(message)
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                unset_flag(flag_consumer_fetching)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)
