"""`make demo`: bring the stack up, replay seeds/, wait for the pipeline, print the alerts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from newsmon.core.config import SERVICES, load_settings
from newsmon.ops import stack


def _newsmon(*args: str) -> int:
    script = Path(sys.executable).with_name("newsmon")
    return subprocess.call([str(script), *args])


def main() -> int:
    settings = load_settings()
    t0 = time.monotonic()
    print("== newsmon demo: starting the broker and the four services", flush=True)
    if _newsmon("up") != 0:
        return 1
    seeds = Path("seeds")
    print(f"== replaying {seeds}/ into news.articles.raw", flush=True)
    code = _newsmon("replay", str(seeds), "--as-fast-as-possible")
    if code not in (0,):
        print("demo: replay reported problems (see above)", file=sys.stderr)
    print("== waiting for the pipeline to drain", flush=True)
    if _newsmon("drain", "--timeout", "300") != 0:
        return 1
    print("== alerts on news.alerts", flush=True)
    _newsmon("alerts", "--from-beginning", "--idle-timeout", "5")
    print(f"\n== done in {time.monotonic() - t0:.0f}s. The stack keeps running:")
    for svc in SERVICES:
        print(f"   {svc:<10} metrics http://{settings.bind_host}:{settings.port_of(svc)}/metrics")
    if stack.prometheus_pid(settings):
        print(f"   prometheus http://{settings.bind_host}:{settings.prometheus_port}")
    print("   follow alerts: .venv/bin/newsmon alerts --follow")
    print("   series:        .venv/bin/newsmon series")
    print("   stop:          make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
