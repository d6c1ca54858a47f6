"""What the kernel says of the machine's processes (Linux /proc), for the watchdog and tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, fields of /proc/<pid>/stat after the command name) of every live process.

    The fields start with state, ppid, pgrp, session (`man 5 proc`); processes that end while
    the folder is read are skipped.
    """
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat.rsplit(")", 1)[1].split()
