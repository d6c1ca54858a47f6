"""Generate N distinct seed-format articles (for throughput measurements and volume tests).

    python tests/data/ingest/generate_articles.py OUT_DIR --count 5000 [--format seed|jsonl]

The files are not committed: generate them where you need them. Dates spread over 2023-10/11,
bodies are a few sentences of plausible newswire text, every article is distinct.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

PLACES = ["Gaza", "Rafah", "Khan Younis", "Doha", "Cairo", "Ankara", "Tel Aviv", "Amman"]
ACTORS = ["the UN", "Egypt", "Qatar", "Israel", "Hamas", "the US", "Turkey", "the WHO"]
THINGS = ["aid trucks", "litres of fuel", "hostages", "patients", "tonnes of flour"]


def article_text(rng: random.Random, i: int) -> str:
    place, actor, thing = rng.choice(PLACES), rng.choice(ACTORS), rng.choice(THINGS)
    n = rng.randint(2, 900)
    return (
        f"{actor.capitalize()} said {n} {thing} reached {place} on day {i}. "
        f"Officials in {rng.choice(PLACES)} described the situation as difficult. "
        f"{rng.choice(ACTORS).capitalize()} called for talks to continue. "
        f"Report number {i} was filed by a correspondent in {place}."
    )


def generate(out: Path, count: int, fmt: str = "seed", seed: int = 7) -> list[Path]:
    """Write `count` articles under `out` (seed files, or one .jsonl file); return the files."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 10, 1, tzinfo=dt.UTC)
    out.mkdir(parents=True, exist_ok=True)
    stamps = [start + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 60)) for _ in range(count)]
    if fmt == "jsonl":
        path = out / "articles.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i, when in enumerate(stamps):
                record = {
                    "source": f"wire-{i % 7}",
                    "published_at": when.isoformat(),
                    "body": article_text(rng, i),
                }
                f.write(json.dumps(record) + "\n")
        return [path]
    paths = []
    for i, when in enumerate(stamps):
        path = out / f"{i:06d}.txt"
        path.write_text(
            f" date {when.strftime('%Y-%m-%dT%H:%M:%SZ')} {article_text(rng, i)}\n",
            encoding="utf-8",
        )
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--format", choices=("seed", "jsonl"), default="seed")
    args = parser.parse_args()
    files = generate(args.out, args.count, args.format)
    print(f"wrote {args.count} articles in {len(files)} file(s) under {args.out}")


if __name__ == "__main__":
    main()
