"""Background processes tracked by pid files (broker, services, Prometheus)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if the process exists (and its command line contains `marker`, against pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if marker is None:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if ") Z" in stat:  # a zombie is not running
        return False
    return marker in cmdline


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in `pidfile` if that process still runs, else None (and the stale file goes)."""
    pid = read_pid(pidfile)
    if pid is not None and pid_alive(pid, marker):
        return pid
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()
    return None


def spawn(
    argv: Sequence[str],
    pidfile: Path,
    logfile: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a detached process (own session) with output appended to `logfile`."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    pidfile.write_text(str(proc.pid))
    return proc


def terminate(pid: int, marker: str, timeout: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Send `sig`, wait up to `timeout`, then SIGKILL. True if it had been running."""
    if not pid_alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid, marker):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        _reap(pid)
        if not pid_alive(pid, marker):
            break
        time.sleep(0.1)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
