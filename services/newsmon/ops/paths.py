"""Where newsmon keeps its files: the repository's deploy/ folder and the state folder."""

from __future__ import annotations

from pathlib import Path

from newsmon.core.config import Settings


def repo_root() -> Path:
    """The source checkout (services/newsmon/ops/paths.py -> repo root)."""
    return Path(__file__).resolve().parents[3]


def deploy_dir() -> Path:
    path = repo_root() / "deploy"
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} is missing: newsmon's launcher files live in the source checkout's deploy/ "
            "folder; run newsmon from a clone of the repository (pip install -e .)."
        )
    return path


def state_path(settings: Settings, *parts: str) -> Path:
    """A path under the state folder (created)."""
    base = settings.state_dir.resolve()
    path = base.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
