"""deploy/pick-python: the interpreter `make` builds the virtualenv with."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "deploy" / "pick-python"


def _fake(folder: Path, name: str, probe_output: str, status: int = 0) -> Path:
    """A stand-in interpreter: answers the script's realpath question with its own resolved
    path and its probe with `probe_output` (and `status`), logging each probe."""
    path = folder / name
    path.write_text(
        "#!/usr/bin/env bash\n"
        'case "$2" in\n'
        '  *realpath*) readlink -f "$0" ;;\n'
        f'  *) echo "$(readlink -f "$0")" >> "{folder}/probes.log"; '
        f"echo '{probe_output}'; exit {status} ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def _pick(*candidates: Path | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PICK_PYTHON_CANDIDATES": " ".join(str(c) for c in candidates)}
    return subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def _chosen(res: subprocess.CompletedProcess[str]) -> str:
    """The interpreter a successful run chose."""
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_the_fastest_qualifying_candidate_is_chosen(tmp_path: Path) -> None:
    slow = _fake(tmp_path, "slow", "ok 3.11.7 0.009500")
    fast = _fake(tmp_path, "fast", "ok 3.11.2 0.006500")
    other = _fake(tmp_path, "other", "ok 3.11.9 0.012000")
    res = _pick(slow, fast, other)
    assert _chosen(res) == str(fast)
    assert f"using {fast}" in res.stderr
    # Every candidate's probe time is reported.
    for path, seconds in ((slow, "0.009500"), (fast, "0.006500"), (other, "0.012000")):
        assert f"{path} (Python" in res.stderr and f"probe {seconds}s" in res.stderr


def test_candidates_that_fail_the_probe_are_skipped_with_the_reason(tmp_path: Path) -> None:
    old = _fake(tmp_path, "old", "Python 3.10.13, older than 3.11", status=1)
    novenv = _fake(tmp_path, "novenv", "cannot create a virtualenv: No module named 'ensurepip'", 1)
    garbled = _fake(tmp_path, "garbled", "hello")
    broken = tmp_path / "broken"  # a pyenv shim of a version not installed, say
    broken.write_text("#!/usr/bin/env bash\necho 'version not installed' >&2\nexit 127\n")
    broken.chmod(0o755)
    good = _fake(tmp_path, "good", "ok 3.11.7 0.020000")
    res = _pick(old, novenv, "no-such-python-here", garbled, broken, good)
    assert _chosen(res) == str(good)
    assert f"{old} skipped: Python 3.10.13, older than 3.11" in res.stderr
    assert f"{novenv} skipped: cannot create a virtualenv" in res.stderr
    assert f"{garbled} skipped: unexpected probe output: hello" in res.stderr
    assert f"{broken} skipped: it does not run" in res.stderr
    # A name that is not there at all is passed over quietly.
    assert "no-such-python-here" not in res.stderr


def test_one_interpreter_under_two_names_is_probed_once(tmp_path: Path) -> None:
    real = _fake(tmp_path, "python3.11", "ok 3.11.7 0.010000")
    alias = tmp_path / "python3"
    alias.symlink_to(real)
    res = _pick(alias, real)
    assert _chosen(res) == str(real)
    assert (tmp_path / "probes.log").read_text().splitlines() == [str(real)]


def test_a_later_version_is_taken_only_when_there_is_no_3_11(tmp_path: Path) -> None:
    """3.11 is the tested version: a faster 3.12 does not beat it; without any 3.11 the
    fastest later version is used, with a warning."""
    py311 = _fake(tmp_path, "py311", "ok 3.11.7 0.009000")
    py312 = _fake(tmp_path, "py312", "ok 3.12.1 0.004000")
    py313 = _fake(tmp_path, "py313", "ok 3.13.0 0.005000")
    res = _pick(py312, py313, py311)
    assert _chosen(res) == str(py311)
    assert "warning" not in res.stderr
    res = _pick(py313, py312)
    assert _chosen(res) == str(py312)
    assert f"warning: no CPython 3.11 found; {py312} is newer than" in res.stderr


def test_no_qualifying_candidate_is_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    old = _fake(tmp_path, "old", "Python 3.10.13, older than 3.11", status=1)
    res = _pick(old, "no-such-python-here")
    assert res.returncode == 1
    assert res.stdout == ""
    assert "no CPython 3.11 or later with venv and ensurepip found" in res.stderr
    assert "PYTHON=" in res.stderr


def test_the_real_probe_accepts_this_interpreter() -> None:
    """The probe itself (not a stand-in) runs on the interpreter the tests run on (3.11 or
    later, with venv and ensurepip, as the virtualenv was made by the script or by hand) and
    reports its version."""
    res = _pick(sys.executable)
    chosen = _chosen(res)
    assert os.path.samefile(chosen, os.path.realpath(sys.executable))
    assert f"{chosen} (Python {platform.python_version()}): probe " in res.stderr
