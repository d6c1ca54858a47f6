"""Unit tests of the pipeline's contract: records, batching, file sources and `newsmon extract`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from newsmon.cli.main import main
from newsmon.core.models import Article
from newsmon.extractor.pipeline import Extractor
from newsmon.extractor.sources import SourceError, parse_seed_text, read_articles

T0 = dt.datetime(2023, 11, 13, tzinfo=dt.UTC)
SEED = Path(__file__).resolve().parents[3] / "seeds" / "000_0928fa2d644cd3ef.txt"


def article(body: str, article_id: str = "a1") -> Article:
    return Article(
        id=article_id, source="test", title="t", published_at=T0, body=body, ingested_at=T0
    )


def test_records_are_always_three(extractor: Extractor) -> None:
    """An article with nothing to extract still yields all three (empty) topic records."""
    art = article("It rained.")
    ents, obs, evs = extractor.extract(art).records(art)
    assert (ents.entities, obs.observations, evs.events) == ([], [], [])
    assert ents.article_id == obs.article_id == evs.article_id == "a1"
    assert ents.ingested_at == T0


def test_extract_many_equals_extract(extractor: Extractor) -> None:
    """Batching through nlp.pipe gives the same output as one article at a time."""
    arts = [
        article("Turkey recalled its ambassador from Israel on Saturday.", "a"),
        article("About 30 aid trucks entered Gaza on Friday, the UN said.", "b"),
    ]
    many = extractor.extract_many(arts)
    one = [extractor.extract(a) for a in arts]
    for x, y in zip(many, one, strict=True):
        assert (x.entities, x.observations, x.events) == (y.entities, y.observations, y.events)
    assert set(many[0].timings) == {"parse", "entities", "quantities", "events"}


@pytest.mark.parametrize(
    "body",
    [
        "South Africa stopped short of severing relations with Israel.",
        "Turkey refrained from recalling its ambassador from Israel.",
        "Jordan did not recall its ambassador from Israel.",
        "Chile refused to sever ties with Israel.",
    ],
)
def test_negated_actions_are_not_positive_events(extractor: Extractor, body: str) -> None:
    """Refusals and denials give no event or a negated one, never a positive 16x."""
    evs = extractor.extract(article(body)).events
    assert all(e.negated for e in evs if e.cameo.startswith("16"))


@pytest.mark.parametrize(
    "body",
    [
        "Critics say Egypt could recall its ambassador from Israel.",
        "If talks fail, Jordan would sever ties with Israel.",
        "A proposal that Bolivia sever ties with Israel was not adopted.",
    ],
)
def test_hypotheticals_are_not_events(extractor: Extractor, body: str) -> None:
    """Modal, conditional and unadopted actions produce no positive event."""
    evs = extractor.extract(article(body)).events
    assert not [e for e in evs if e.cameo.startswith("16") and not e.negated]


def test_unknown_actor_is_kept_with_stable_slug(extractor: Extractor) -> None:
    """An actor outside the catalogue is kept as known=false with the same id everywhere."""
    a = extractor.extract(article("The Zubair Relief Foundation said 40 families arrived.", "x"))
    b = extractor.extract(article("Officials of the Zubair Relief Foundation met on Monday.", "y"))
    ida = {e.id for e in a.entities if not e.known}
    idb = {e.id for e in b.entities if not e.known}
    assert "zubair-relief-foundation" in ida & idb


def test_rate_planned_and_claimant(extractor: Extractor) -> None:
    """'two fuel trucks a day' is daily; 'are expected' is planned; 'according to' a claimant."""
    res = extractor.extract(
        article(
            "Two fuel trucks a day now enter Gaza, according to the UN. "
            "Up to 200 aid trucks a day are expected to cross next week."
        )
    )
    by_value = {o.value: o for o in res.observations}
    assert by_value[2].period == "daily" and by_value[2].metric == "fuel_trucks_entered"
    assert by_value[2].claimant == "United Nations"
    assert by_value[200].period == "planned" and by_value[200].qualifiers == ["up_to"]


def test_seed_reader_follows_ingester_conventions() -> None:
    """Seed files: body after the date header, title = first sentence (trimmed), 00:00 UTC."""
    art = parse_seed_text(SEED.read_text(encoding="utf-8"), SEED.name)
    assert art.published_at == T0 and art.source == SEED.name
    assert art.body.startswith("US Secretary of State")
    assert art.title.startswith("US Secretary of State Antony Blinken has concluded")
    assert len(art.title) <= 200


def test_json_and_jsonl_readers(tmp_path: Path) -> None:
    """JSON (one or a list) and JSON Lines files give articles; bad content names the file."""
    obj = {"id": "j1", "published_at": "2023-11-13T08:00:00Z", "body": "Israel said so."}
    (tmp_path / "a.json").write_text(json.dumps([obj, {**obj, "id": "j2"}]))
    (tmp_path / "b.jsonl").write_text(json.dumps(obj) + "\n\n" + json.dumps({**obj, "id": "j3"}))
    (tmp_path / "bad.jsonl").write_text("{nope")
    assert [a.id for a in read_articles(tmp_path / "a.json")] == ["j1", "j2"]
    assert [a.id for a in read_articles(tmp_path / "b.jsonl")] == ["j1", "j3"]
    with pytest.raises(SourceError, match=r"bad\.jsonl:1"):
        list(read_articles(tmp_path / "bad.jsonl"))


def test_cli_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """`newsmon extract --json SEED` prints one document with the contract's field names."""
    assert main(["extract", "--json", str(SEED)]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    doc = json.loads(line)
    assert set(doc) == {"article", "entities", "observations", "events"}
    assert {"id", "name", "type", "actor_type", "known", "mentions"} <= set(doc["entities"][0])
    assert {"metric", "unit", "value", "approximate", "as_of", "period", "evidence"} <= set(
        doc["observations"][0]
    )
    assert {"actor", "target", "action", "cameo", "quad_class", "goldstein", "date"} <= set(
        doc["events"][0]
    )


def test_cli_summary_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without --json a readable summary; a missing file is reported and exits non-zero."""
    assert main(["extract", str(SEED), str(tmp_path / "missing.txt")]) == 1
    out, err = capsys.readouterr()
    assert "Antony Blinken" in out and "CAMEO 161" in out
    assert "missing.txt: no such file" in err
