"""The benchmark's article generator: deterministic, valid, varied, within the length bounds."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from bench.generator import (
    MAX_WORDS,
    MIN_WORDS,
    generate,
    iter_articles,
    reidentify,
    to_jsonl,
    write_jsonl,
)

from newsmon.core.models import Article


@pytest.fixture(scope="module")
def sample() -> list[Article]:
    return generate(300, seed=3)


def test_same_seed_same_articles() -> None:
    """Two runs with one seed give equal articles; another seed gives other texts."""
    assert generate(12, seed=7) == generate(12, seed=7)
    assert [a.body for a in generate(12, seed=7)] != [a.body for a in generate(12, seed=8)]


def test_smaller_run_is_a_prefix_of_a_larger_one() -> None:
    """Article i depends only on (seed, i, start), so 300 articles begin 10,000 ones."""
    assert generate(5, seed=1) == list(iter_articles(40, seed=1))[:5]


def test_ids_are_deterministic_and_unique(sample: list[Article]) -> None:
    """Ids are bench-s<seed>-<index>, unique within a run."""
    assert sample[0].id == "bench-s3-000000"
    assert len({a.id for a in sample}) == len(sample)


def test_lengths_stay_within_bounds_and_vary(sample: list[Article]) -> None:
    """Every body has 100 to 1,500 words, and short, medium and long bodies all occur."""
    words = [len(a.body.split()) for a in sample]
    assert min(words) >= MIN_WORDS
    assert max(words) <= MAX_WORDS
    assert min(words) < 300 and max(words) > 1000


def test_articles_are_in_publication_order_and_in_the_past(sample: list[Article]) -> None:
    """published_at is timezone-aware, increasing, and 10,000 articles stay in the past."""
    times = [a.published_at for a in sample]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times)
    last = next(iter(iter_articles(1, seed=3, start=dt.date(2023, 10, 16))))
    assert last.published_at < dt.datetime.now(dt.UTC)
    assert generate(1, seed=0)[0].published_at.date() >= dt.date(2023, 10, 7)


def test_texts_carry_what_the_extractor_looks_for(sample: list[Article]) -> None:
    """Hedged figures, change statements, dates, events and negations all occur."""
    text = "\n".join(a.body for a in sample)
    expected = {
        "hedge": r"\b(?:about|approximately|nearly|more than|at least) \d",
        "change": r"(?:fell|declined|dropped|plunged|rose|increased|climbed) from \d+ on \w+day to",
        "number word": r"\b(?i:two|three|four|five|six) (?:aid trucks|hostages|ambulances)",
        "fuel": r"\d[\d,]* litres of fuel",
        "plan": r"up to \d+ trucks a day are expected",
        "baseline": r"Before the war, about \d+ trucks a day",
        "explicit date": r"on (?:\d{1,2} [A-Z][a-z]+ber|[A-Z][a-z]+ber \d{1,2})\b",
        "relative date": r"\b(?:yesterday|last week|on (?:Mon|Tues|Fri|Sun)day)\b",
        "visit": r"\bvisited\b",
        "meeting": r"\bmet\b",
        "accusation": r"\baccused\b",
        "threat": r"\bthreatened\b",
        "ambassador": r"(?:recalled|withdrew) its ambassador",
        "agreement": r"signed an agreement",
        "truce": r"declared a [\w-]+ truce",
        "negation": r"stopped short of severing|refrained from|was not adopted|denied that",
        "un agency": r"\b(?:UNRWA|UNICEF|World Food Programme)\b",
        "armed group": r"\b(?:Hamas|Hezbollah|Houthis|Islamic Jihad)\b",
        "leader": r"\b(?:Antony Blinken|Benjamin Netanyahu|Recep Tayyip Erdoğan)\b",
        "minister title": r"\bForeign Minister [A-Z]",
        "unknown actor": r"\b(?:Farid al-Masri|Lena Halvorsen|Liwa al-Ahrar)\b",
    }
    missing = [name for name, pattern in expected.items() if not re.search(pattern, text)]
    assert missing == []


def test_jsonl_round_trips_through_the_contract_model(tmp_path: Path) -> None:
    """write_jsonl writes one Article document per line that validates back to equal models."""
    articles = generate(10, seed=2)
    path = write_jsonl(articles, tmp_path / "sub" / "articles.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [Article.model_validate_json(line) for line in lines] == articles
    assert to_jsonl(articles) == path.read_text(encoding="utf-8")


def test_jsonl_is_accepted_by_the_ingester() -> None:
    """Every generated article passes the ingester's JSONL reader and validation, id kept."""
    formats = pytest.importorskip("newsmon.core.intake.formats")
    validation = pytest.importorskip("newsmon.core.intake.validation")
    records = pytest.importorskip("newsmon.core.intake.records")
    articles = generate(25, seed=4)
    data = to_jsonl(articles).encode("utf-8")
    limits = validation.Limits(1_000_000, 2)
    now = dt.datetime.now(dt.UTC)
    verdicts = [
        validation.validate(c, limits, now)
        for c in formats.read_bytes(data, name="bench.jsonl", fmt=formats.InputFormat.JSONL)
    ]
    assert all(isinstance(v, records.Accepted) for v in verdicts), verdicts[:1]
    assert [v.article.id for v in verdicts] == [a.id for a in articles]
    assert [v.article.body for v in verdicts] == [a.body for a in articles]


def test_reidentify_gives_new_ids_and_keeps_texts() -> None:
    """Re-identified copies (for deduplicating consumers) differ only in id and url."""
    articles = generate(3)
    copies = reidentify(articles, "w2")
    assert [c.id for c in copies] == [f"{a.id}-w2" for a in articles]
    assert [c.body for c in copies] == [a.body for a in articles]
