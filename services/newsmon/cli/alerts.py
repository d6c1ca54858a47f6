"""`newsmon alerts` (placeholder until its issue lands: registers nothing)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands to the `newsmon` parser."""
    del sub


__all__ = ["argparse", "register"]
