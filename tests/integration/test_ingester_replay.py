"""Replay through the real broker: formats, rejection reasons, order, pacing, idempotence."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from newsmon.cli.main import main as newsmon_main
from newsmon.core import models, topics
from newsmon.core.config import Settings, to_env
from newsmon.core.kafka import client_kwargs
from newsmon.ingester.replay import Pace, ReplayOptions, replay

pytestmark = pytest.mark.kafka

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


async def read_records(
    settings: Settings, spec: topics.TopicSpec
) -> list[ConsumerRecord[Any, Any]]:
    """Every record on a prefixed contract topic, in partition/offset order (plain consumer)."""
    name = topics.topic_name(spec, settings.topic_prefix)
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in range(spec.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[ConsumerRecord[Any, Any]] = []
        deadline = time.monotonic() + 30
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "timed out reading the topic"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


def quiet() -> io.StringIO:
    return io.StringIO()


async def test_every_format_is_published_with_key_and_record_time(
    contract_topics: Settings,
) -> None:
    """Seed files, JSON, JSON Lines, a nested folder and stdin all land on news.articles.raw."""
    stdin = io.BytesIO(
        b'{"source": "stdin-scraper", "published_at": "2023-11-11T06:00:00Z", '
        b'"body": "Piped in. Still an article."}\n'
    )
    summary = await replay(
        contract_topics,
        ReplayOptions(paths=[str(DATA / "good"), "-"]),
        stdin=stdin,
        progress_stream=quiet(),
    )
    assert summary.error is None and not summary.rejections
    assert summary.published == 7
    records = await read_records(contract_topics, topics.ARTICLES_RAW)
    articles = [models.Article.model_validate_json(r.value) for r in records]
    assert len(articles) == 7
    for rec, art in zip(records, articles, strict=True):
        assert rec.key == art.id.encode()
        assert rec.timestamp == int(art.published_at.timestamp() * 1000)
    by_source = {a.source: a for a in articles}
    assert set(by_source) == {"Reuters", "AP", "BBC", "rafah.txt", "qatar.txt", "stdin-scraper"}
    assert by_source["AP"].id == "given-id-1"
    assert by_source["qatar.txt"].published_at == dt.datetime(2023, 11, 15, 9, 30, tzinfo=dt.UTC)
    assert by_source["rafah.txt"].title == "Egypt reopened the Rafah crossing on Tuesday."


async def test_every_rejection_reason_lands_in_the_dlq(
    kafka_settings: Callable[..., Settings],
) -> None:
    """Each bad fixture ends in news.articles.dlq with its reason, source, position, payload."""
    from newsmon.ops.topics import ensure_topics

    settings = kafka_settings(max_body_bytes=1000)
    await ensure_topics(settings)
    summary = await replay(
        settings, ReplayOptions(paths=[str(DATA / "bad")]), progress_stream=quiet()
    )
    assert summary.exit_code() == 1 and summary.exit_code(keep_going=True) == 0
    letters = [
        models.DeadLetter.model_validate_json(r.value)
        for r in await read_records(settings, topics.ARTICLES_DLQ)
    ]
    by_file = {Path(d.position.file).stem: d for d in letters if d.position and d.position.file}
    expected = {p.stem for p in (DATA / "bad").iterdir()}
    assert set(by_file) == expected and len(letters) == len(expected)
    for stem, letter in by_file.items():
        assert letter.reason == stem, letter
        assert letter.stage == "ingester" and letter.detail
        assert letter.source  # the file name, or the article's own source
        assert letter.position is not None and letter.position.line
    undecodable = by_file["undecodable_bytes"]
    assert undecodable.payload_encoding == "base64"
    assert (
        base64.b64decode(undecodable.payload)
        == (DATA / "bad" / "undecodable_bytes.txt").read_bytes()
    )
    assert undecodable.position is not None and undecodable.position.line == 2
    malformed = by_file["malformed_json"]
    assert malformed.position is not None and malformed.position.line == 2
    assert by_file["unknown_fields"].payload.startswith('{"source": "X"')
    # Nothing rejected reaches the raw topic: only the good first line of the .jsonl file.
    raw = await read_records(settings, topics.ARTICLES_RAW)
    assert [json.loads(r.value)["body"] for r in raw] == ["fine"]


def _seed_files(folder: Path, hours: list[int]) -> dict[str, int]:
    folder.mkdir()
    start = dt.datetime(2023, 11, 13, tzinfo=dt.UTC)
    names = {}
    for i, h in enumerate(hours):
        when = (start + dt.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
        name = f"{(i * 7) % len(hours)}-{h}.txt"  # file order differs from date order
        (folder / name).write_text(f" date {when} Event number {h} happened. Details.\n")
        names[name] = h
    return names


async def test_replay_order_and_speed_pacing(contract_topics: Settings, tmp_path: Path) -> None:
    """--speed 3600 spreads 4 hours of news over ~4 s, in published order on every partition."""
    _seed_files(tmp_path / "seeds", [3, 0, 4, 1, 2])
    t0 = time.monotonic()
    summary = await replay(
        contract_topics,
        ReplayOptions(paths=[str(tmp_path / "seeds")], pace=Pace.speed(3600)),
        progress_stream=quiet(),
    )
    span = time.monotonic() - t0
    assert summary.published == 5
    assert 3.8 <= span <= 7.0, span
    records = await read_records(contract_topics, topics.ARTICLES_RAW)
    for p in {r.partition for r in records}:
        stamps = [r.timestamp for r in records if r.partition == p]
        assert stamps == sorted(stamps)


async def test_rate_pacing(contract_topics: Settings, tmp_path: Path) -> None:
    """--rate 5 publishes 6 articles over ~1 s whatever their dates."""
    _seed_files(tmp_path / "seeds", [0, 100, 200, 300, 400, 500])
    t0 = time.monotonic()
    summary = await replay(
        contract_topics,
        ReplayOptions(paths=[str(tmp_path / "seeds")], pace=Pace.rate(5)),
        progress_stream=quiet(),
    )
    span = time.monotonic() - t0
    assert summary.published == 6
    assert 0.9 <= span <= 3.0, span


async def test_replaying_twice_publishes_nothing_new(contract_topics: Settings) -> None:
    """The second replay skips every id as a duplicate; --republish re-sends the same keys."""
    paths = [str(DATA / "good")]
    first = await replay(contract_topics, ReplayOptions(paths=paths), progress_stream=quiet())
    second = await replay(contract_topics, ReplayOptions(paths=paths), progress_stream=quiet())
    assert (first.published, first.duplicates) == (6, 0)
    assert (second.published, second.duplicates) == (0, 6)
    records = await read_records(contract_topics, topics.ARTICLES_RAW)
    assert len(records) == 6
    keys = {r.key for r in records}
    forced = await replay(
        contract_topics, ReplayOptions(paths=paths, republish=True), progress_stream=quiet()
    )
    assert forced.published == 6
    again = await read_records(contract_topics, topics.ARTICLES_RAW)
    assert len(again) == 12 and {r.key for r in again} == keys  # same ids: downstream dedups


def test_cli_exit_codes_and_dry_run(
    kafka_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`newsmon replay`: dry run publishes nothing, rejections exit 1 unless --keep-going."""
    import asyncio

    settings = kafka_settings(max_body_bytes=1000)
    for key, value in to_env(settings).items():
        monkeypatch.setenv(key, value)
    bad = str(DATA / "bad")
    assert newsmon_main(["replay", "--dry-run", str(DATA / "good")]) == 0
    out = capsys.readouterr().out
    assert "would publish 6 article(s)" in out
    assert newsmon_main(["replay", bad]) == 1
    captured = capsys.readouterr()
    assert "rejected: 11" in captured.out and "--keep-going" in captured.err
    assert "undecodable_bytes.txt:2: undecodable_bytes" in captured.out
    assert newsmon_main(["replay", "--keep-going", bad]) == 0
    assert newsmon_main(["replay", str(DATA / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    raw = asyncio.run(read_records(settings, topics.ARTICLES_RAW))
    assert len(raw) == 1  # the dry run sent nothing; the second bad replay skipped "fine"


async def test_volume_replay_as_fast_as_possible(contract_topics: Settings, tmp_path: Path) -> None:
    """1,000 generated articles are all published, in order per partition, and fast."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", DATA / "generate_articles.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.generate(tmp_path / "gen", 1000, "jsonl")
    summary = await replay(
        contract_topics, ReplayOptions(paths=[str(tmp_path / "gen")]), progress_stream=quiet()
    )
    assert (summary.published, summary.failed, len(summary.rejections)) == (1000, 0, 0)
    rate = summary.published / summary.elapsed_s
    print(f"replay rate: {rate:,.0f} articles/s")
    assert rate > 200  # a loose floor for a busy 2-core CI machine; typical is ~10,000/s
    records = await read_records(contract_topics, topics.ARTICLES_RAW)
    assert len(records) == 1000 and len({r.key for r in records}) == 1000
    for p in {r.partition for r in records}:
        stamps = [r.timestamp for r in records if r.partition == p]
        assert stamps == sorted(stamps)
