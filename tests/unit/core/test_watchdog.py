"""Unit tests of the stall rule: records waiting on a partition and no progress for the limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from newsmon.core.watchdog import RESTARTS_ENV, StallWatch

A, B = ("raw", 0), ("raw", 1)


def test_partition_with_waiting_records_and_no_progress_is_stalled() -> None:
    w = StallWatch(timeout_s=30)
    w.assigned([A, B], now=0)
    w.progressed(A, 10, now=5)
    w.progressed(B, 4, now=5)
    # A has 5 records waiting, B none; 31 s after A's last progress only A is stalled.
    found = w.check({A: 15, B: 4}, {A: 10, B: 4}, now=36)
    assert set(found) == {A}
    assert found[A]["kind"] == "reading"
    assert found[A]["waiting"] == 5
    assert found[A]["idle_s"] == 31
    assert w.stalls == 1


def test_not_stalled_before_the_limit_or_when_caught_up() -> None:
    w = StallWatch(timeout_s=30)
    w.assigned([A], now=0)
    w.progressed(A, 10, now=0)
    assert w.check({A: 20}, {A: 10}, now=29) == {}
    assert w.check({A: 10}, {A: 10}, now=100) == {}  # nothing waiting: idle is fine
    assert w.stalls == 0


def test_progress_clears_a_stall_and_a_new_one_is_counted_again() -> None:
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    assert w.check({A: 3}, {}, now=11)  # never progressed, records waiting since assignment
    assert w.check({A: 3}, {}, now=12)  # the same stall is not counted twice
    assert w.stalls == 1
    w.progressed(A, 3, now=13)
    assert w.stalled == {}
    assert w.check({A: 9}, {}, now=30)
    assert w.stalls == 2


def test_committed_offset_counts_as_done_for_a_partition_taken_over() -> None:
    """After a takeover the new owner starts at the group's commit, not at zero."""
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    assert w.check({A: 50}, {A: 50}, now=100) == {}
    assert set(w.check({A: 51}, {A: 50}, now=100)) == {A}


def test_finished_records_whose_offsets_are_never_committed_are_a_stall() -> None:
    """Faust commits up to the first record it never saw acked: one lost ack holds the
    partition's commit back while the later records are all processed."""
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    w.check({A: 48}, {A: 1}, now=0)
    w.progressed(A, 48, now=2)  # every record read and finished
    assert w.check({A: 48}, {A: 1}, now=19) == {}  # commits may lag a while (2 x the limit)
    found = w.check({A: 48}, {A: 1}, now=21)
    assert found[A] == {"kind": "commit", "uncommitted": 47, "committed": 1, "idle_s": 21}


def test_a_commit_that_keeps_moving_is_no_stall() -> None:
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    for t in range(0, 60, 2):
        w.progressed(A, 10 * t + 10, now=t)
        assert w.check({A: 10 * t + 20}, {A: 10 * t}, now=t + 1) == {}


def test_time_without_a_view_of_the_broker_does_not_count() -> None:
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    w.progressed(A, 5, now=0)
    w.pause(now=60)  # e.g. the broker was down until t=60
    assert w.check({A: 8}, {A: 5}, now=65) == {}
    assert w.check({A: 8}, {A: 5}, now=71)


def test_a_new_assignment_restarts_the_clocks_and_keeps_progress() -> None:
    w = StallWatch(timeout_s=10)
    w.assigned([A], now=0)
    w.progressed(A, 7, now=1)
    w.assigned([A, B], now=50)
    assert w.partitions[A].done == 7
    assert w.partitions[A].since == 50
    assert w.check({A: 9, B: 2}, {A: 7}, now=55) == {}
    assert set(w.check({A: 9, B: 2}, {A: 7}, now=61)) == {A, B}
    w.assigned([B], now=70)
    assert set(w.partitions) == {B}


def test_exec_self_restarts_the_same_command_line_with_a_restart_count(
    tmp_path: Path,
) -> None:
    """The in-place restart keeps the pid and the arguments, and counts the restarts."""
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from newsmon.core import watchdog
            print(os.getpid(), watchdog.restarts(), sys.argv[1:], flush=True)
            if watchdog.restarts() < 2:
                watchdog.exec_self()
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(RESTARTS_ENV, None)
    out = subprocess.run(
        [sys.executable, str(script), "run", "tracker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 3
    pids = {line.split()[0] for line in out}
    assert len(pids) == 1  # same process throughout
    assert [line.split(" ", 2)[1] for line in out] == ["0", "1", "2"]
    assert all(line.endswith("['run', 'tracker']") for line in out)


def test_a_partition_waiting_behind_a_busy_worker_is_no_stall_until_starved() -> None:
    """With a backlog, one partition's records can queue behind the others' for a while."""
    w = StallWatch(timeout_s=10)
    w.assigned([A, B], now=0)
    w.progressed(A, 5, now=0)
    for t in range(1, 99):
        w.progressed(B, t, now=t)  # the worker keeps finishing B's records
        assert w.check({A: 50, B: 1000}, {A: 5, B: t}, now=t) == {}
    found = w.check({A: 50, B: 1000}, {A: 5, B: 99}, now=100)
    assert set(found) == {A} and found[A]["kind"] == "reading"


def test_a_rebalance_pauses_the_clocks_until_it_lasts_too_long() -> None:
    w = StallWatch(timeout_s=10)
    w.assigned([A, B], now=0)
    w.progressed(A, 5, now=0)
    assert w.rebalancing(True, now=5)  # paused: no check while the group settles
    assert w.rebalancing(True, now=19)
    assert not w.rebalancing(True, now=25)  # 20 s = 2 x the limit: the caller reports it
    found = w.stuck_rebalance(now=25)
    assert set(found) == {A, B} and found[A]["kind"] == "rebalance" and w.stalls == 1
    # the rebalance ends: the clocks restart then, so the time it took does not count
    assert not w.rebalancing(False, now=30)
    assert w.check({A: 9, B: 0}, {A: 5}, now=35) == {}
