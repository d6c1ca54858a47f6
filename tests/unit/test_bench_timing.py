"""The benchmark's timing helpers: metric samples, process and machine CPU time."""

from __future__ import annotations

import os

from bench.run import cpu_seconds, machine_busy_seconds, sample_values
from prometheus_client import CollectorRegistry, Gauge, generate_latest


def test_the_bench_reads_every_labelled_sample_of_a_metric() -> None:
    registry = CollectorRegistry()
    last = Gauge("t_last_timestamp_seconds", "last record", ["topic"], registry=registry)
    last.labels(topic="a").set(10.5)
    last.labels(topic="b").set(12.25)
    Gauge("t_last_timestamp_seconds_other", "not this one", registry=registry).set(99)

    text = generate_latest(registry).decode()

    assert sorted(sample_values(text, "t_last_timestamp_seconds")) == [10.5, 12.25]
    assert sample_values(text, "t_missing") == []


def test_cpu_seconds_of_a_process_grow_with_its_work() -> None:
    before = cpu_seconds(os.getpid())
    total = 0
    for i in range(3_000_000):
        total += i * i
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert after > before
    assert cpu_seconds(None) is None
    assert cpu_seconds(2**22 + 12345) is None  # no such process


def test_machine_busy_and_stolen_seconds_are_counted_since_boot() -> None:
    first = machine_busy_seconds()
    total = 0
    for i in range(3_000_000):
        total += i * i
    second = machine_busy_seconds()
    assert first is not None and second is not None
    busy0, steal0 = first
    busy1, steal1 = second
    assert busy0 > 0 and steal0 >= 0
    assert busy1 > busy0 and steal1 >= steal0


def test_a_phases_cpu_is_told_apart_for_a_process_and_its_children() -> None:
    """The meter counts a process's own CPU and its live children's apart (the extractor's
    spaCy workers are its children), over its window only; a process gone is left out."""
    import subprocess
    import sys
    import time

    from bench.run import CpuMeter, cpu_summary

    meter = CpuMeter({"me": os.getpid(), "gone": 2**22 + 12345}).start()
    # A child started in the window: it works about 0.5 s, then waits to be read.
    burn = "import time; t = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    child = subprocess.Popen([sys.executable, "-c", burn + "time.sleep(30)"])
    try:
        total = 0
        for i in range(2_000_000):
            total += i * i
        time.sleep(1.5)  # the child has done its work by now
        cpu = meter.stop()
    finally:
        child.kill()
        child.wait()
    mine = cpu["by_process"]["me"]
    assert "gone" not in cpu["by_process"] and total > 0
    assert mine["main_s"] >= 0.05
    assert 0.4 <= mine["children_s"] <= 1.5
    assert cpu["machine_busy_s"] >= mine["main_s"] + mine["children_s"] - 0.1
    assert cpu["window_s"] >= 1.5
    line = cpu_summary(cpu)
    assert line.startswith("me ") and "in child processes" in line and "machine" in line
