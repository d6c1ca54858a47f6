"""A stall watchdog for a service's agents, and the in-place restart that ends a stall.

Faust can leave an agent idle after a partition takeover or a restart while records wait on
its partitions, with no error (faust-streaming #629, #175). The watchdog compares, for every
input partition the worker owns, the broker's end offset with the offset the agent has
finished (`for_each_batch` reports each acknowledged record here) and with the group's
committed offset: a partition with unread records and no progress for `stall_timeout_s`, or
with finished records whose offsets are not committed for that long, is a stall. The service
then says so on /health and in its metrics and logs, and (the default) restarts itself in
place: a graceful stop, then `exec` of the same command line, so the pid, the log file and a
supervisor's view stay the same, and the new process resumes from the last commit (every step
of the pipeline is idempotent). Time during which the broker cannot be asked does not count.

What was seen in the fault tests after a takeover: every record of a partition processed but
its committed offset held at the first one (a record Faust never saw acknowledged), so the
group's lag never reached zero.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsmon.core import logs
from newsmon.core.procinfo import process_stats

_log = logs.get_logger(__name__)

#: Environment variable carrying how many times this service restarted itself.
RESTARTS_ENV = "NEWSMON_RESTARTS"
#: Fault injection for the tests: the agent stops reading after this many records, in the
#: first life of the process only (before any in-place restart).
STALL_INJECT_ENV = "NEWSMON_FAULT_STALL_AFTER_RECORDS"
#: Fault tests only: the agent takes one record at a time and waits this many seconds after
#: each, so that a fault injected "mid-stream" surely finds work left to do.
PACE_INJECT_ENV = "NEWSMON_FAULT_RECORD_DELAY_S"


#: A partition idle this many times the limit is a stall even while others progress.
STARVED_FACTOR = 10
#: Committed offsets behind finished records, and a rebalance or table recovery that does not
#: end, are stalls after this many times the limit (a broker coming back takes a while to
#: accept commits and to settle the group).
SLOW_FACTOR = 2


@dataclass
class PartitionProgress:
    done: int | None  # next offset to finish (offset of the last finished record + 1)
    since: float  # monotonic time of the last progress, or of the assignment
    committed: int | None = None  # the group's committed offset, as last seen
    committed_since: float = 0.0  # when it last changed (or the clock restarted)


@dataclass
class StallWatch:
    """Progress per input partition, and the rules that call a partition stalled (pure logic).

    Two kinds of stall: records wait on the partition and none was finished for `timeout_s`
    while the worker finished nothing either, or for `STARVED_FACTOR` times that ("reading");
    or records were finished but the group's committed offset stayed behind them for
    `SLOW_FACTOR` times the limit ("commit": Faust commits only up to the first record it never
    saw acknowledged, so one lost record holds the partition's commit back for good). A
    rebalance or table recovery that lasts that long is a stall too ("rebalance").
    """

    timeout_s: float
    partitions: dict[Any, PartitionProgress] = field(default_factory=dict)
    stalled: dict[Any, dict[str, Any]] = field(default_factory=dict)
    stalls: int = 0
    busy_since: float | None = None  # when the current rebalance / recovery began
    last_check: str = "not yet"  # what the last check did (shown on /health)

    def rebalancing(self, busy: bool, now: float) -> bool:
        """Note whether the worker is rebalancing or recovering tables; True while that has
        lasted less than `SLOW_FACTOR` times the limit (the clocks are paused meanwhile)."""
        if not busy:
            if self.busy_since is not None:
                self.busy_since = None
                self.pause(now)
            return False
        if self.busy_since is None:
            self.busy_since = now
        self.pause(now)
        return now - self.busy_since < SLOW_FACTOR * self.timeout_s

    def stuck_rebalance(self, now: float) -> dict[Any, dict[str, Any]]:
        """Every partition, as stalled by a rebalance or recovery that does not end."""
        since = self.busy_since if self.busy_since is not None else now
        found = {
            tp: {"kind": "rebalance", "idle_s": round(now - since, 1)} for tp in self.partitions
        }
        if not self.stalled:
            self.stalls += 1
        self.stalled = found
        return found

    def assigned(self, tps: Iterable[Any], now: float) -> None:
        """A new assignment: its partitions start their clocks now (kept ones keep progress)."""
        keep = set(tps)
        self.partitions = {
            tp: PartitionProgress(
                self.partitions[tp].done if tp in self.partitions else None, now, None, now
            )
            for tp in keep
        }
        self.stalled.clear()

    def progressed(self, tp: Any, next_offset: int, now: float) -> None:
        """The agent finished the records of `tp` before `next_offset`."""
        state = self.partitions.get(tp)
        if state is None:
            state = self.partitions[tp] = PartitionProgress(None, now, None, now)
        if state.done is None or next_offset > state.done:
            state.done = next_offset
            state.since = now
        self.stalled.pop(tp, None)

    def pause(self, now: float) -> None:
        """Time the watchdog could not look (broker unreachable, rebalance) does not count."""
        for state in self.partitions.values():
            state.since = now
            state.committed_since = now

    def check(
        self, end_offsets: Mapping[Any, int], committed: Mapping[Any, int | None], now: float
    ) -> dict[Any, dict[str, Any]]:
        """The stalled partitions (newly found ones are counted in `stalls`)."""
        found: dict[Any, dict[str, Any]] = {}
        last = max((p.since for p in self.partitions.values()), default=now)
        worker_idle = now - last
        for tp, state in self.partitions.items():
            group_offset = committed.get(tp)
            if group_offset != state.committed:
                state.committed, state.committed_since = group_offset, now
            end = end_offsets.get(tp)
            if end is None:
                continue
            done = max((o for o in (state.done, group_offset) if o is not None), default=None)
            # Nothing finished or committed yet: a record waits when the partition has any.
            waiting = end - (done or 0)
            idle = now - state.since
            # A busy worker with a backlog can leave one partition waiting for a while (its
            # records queue behind the others'): a partition's idleness is a stall when the
            # whole worker is idle too, or when it lasts `STARVED_FACTOR` times the limit.
            if waiting > 0 and (
                (idle >= self.timeout_s and worker_idle >= self.timeout_s)
                or idle >= STARVED_FACTOR * self.timeout_s
            ):
                found[tp] = {"kind": "reading", "waiting": waiting, "idle_s": round(idle, 1)}
                continue
            behind = (state.done or 0) - (group_offset or 0)
            stuck = now - state.committed_since
            if state.done is not None and behind > 0 and stuck >= SLOW_FACTOR * self.timeout_s:
                found[tp] = {
                    "kind": "commit",
                    "uncommitted": behind,
                    "committed": group_offset,
                    "idle_s": round(stuck, 1),
                }
        for tp in found:
            if tp not in self.stalled:
                self.stalls += 1
        self.stalled = found
        return found


# ------------------------------------------------------------------------ restart in place
_restart_lock = threading.Lock()
_restart_reason: str | None = None


def restarts() -> int:
    try:
        return int(os.environ.get(RESTARTS_ENV, "0"))
    except ValueError:
        return 0


def restart_requested() -> str | None:
    return _restart_reason


def request_restart(reason: str, grace_s: float = 60.0) -> None:
    """Stop the worker gracefully (SIGTERM to this process) and re-exec it; if the graceful
    stop has not ended within `grace_s`, re-exec anyway (a stalled worker may not stop)."""
    global _restart_reason
    with _restart_lock:
        if _restart_reason is not None:
            return
        _restart_reason = reason
    _log.error("restarting_in_place", reason=reason, restarts=restarts() + 1, grace_s=grace_s)
    timer = threading.Timer(grace_s, _forced_restart)
    timer.daemon = True
    timer.start()
    os.kill(os.getpid(), signal.SIGTERM)


def _forced_restart() -> None:
    _log.error("restart_forced", reason="graceful stop did not end in time")
    exec_self()


def _kill_children() -> None:
    """SIGKILL this process's children (e.g. a spaCy worker pool) and reap them, before an exec."""
    me = os.getpid()
    for pid, fields in process_stats():
        if int(fields[1]) == me:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):  # not ours to reap, or already reaped
                os.waitpid(pid, 0)


def exec_self() -> None:
    """Replace this process with a fresh run of the same command line (same pid).

    The command line is the kernel's (`/proc/self/cmdline`): the interpreter and every
    argument exactly as started, whether by a console script or `python -m`. Child processes
    (a spaCy worker pool shut down without waiting) are ended first: after the exec nothing
    would ever tell them to stop.
    """
    _kill_children()
    env = {**os.environ, RESTARTS_ENV: str(restarts() + 1)}
    argv = [a.decode() for a in Path("/proc/self/cmdline").read_bytes().split(b"\0") if a]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.execve(sys.executable, argv, env)


def now() -> float:
    return time.monotonic()
