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
        fields = process_stat(int(entry.name))
        if fields is not None:
            yield int(entry.name), fields


def process_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (see `process_stats`), or None
    when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()
