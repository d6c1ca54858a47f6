"""Replay logic without Kafka: pacing schedule, plan (order, window, dedup), summary, progress."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from newsmon.core.config import Settings
from newsmon.core.intake.formats import read_inputs, resolve_inputs
from newsmon.core.intake.records import Candidate, Origin, Problem, Reason, Rejection
from newsmon.core.intake.validation import Limits
from newsmon.ingester.replay import (
    Pace,
    Progress,
    PublishedIndex,
    ReplaySummary,
    parse_bound,
    plan,
    schedule,
)

T0 = dt.datetime(2023, 11, 13, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def test_speed_divides_news_time() -> None:
    """--speed 3600: one hour of news time per wall second."""
    assert schedule([T0, T0 + H, T0 + 3 * H], Pace.speed(3600)) == [0.0, 1.0, 3.0]


def test_rate_spaces_articles_evenly() -> None:
    """--rate 4: an article every quarter second, whatever the dates."""
    assert schedule([T0, T0, T0 + 100 * H], Pace.rate(4)) == [0.0, 0.25, 0.5]


def test_fast_has_no_pauses() -> None:
    """As fast as possible: everything is due at once."""
    assert schedule([T0, T0 + H], Pace.fast()) == [0.0, 0.0]
    assert schedule([], Pace.speed(10)) == []


@pytest.mark.parametrize("bad", [0, -1])
def test_pace_must_be_positive(bad: float) -> None:
    """Zero or negative --speed/--rate are refused with a message."""
    with pytest.raises(ValueError, match="positive"):
        Pace.speed(bad)
    with pytest.raises(ValueError, match="positive"):
        Pace.rate(bad)


def test_until_date_includes_the_whole_day() -> None:
    """--until 2023-11-14 keeps everything published on the 14th."""
    assert parse_bound("2023-11-14", end=True) == dt.datetime(2023, 11, 15, tzinfo=dt.UTC)
    assert parse_bound("2023-11-14T12:00Z", end=True) == dt.datetime(
        2023, 11, 14, 12, tzinfo=dt.UTC
    )


def test_plan_orders_filters_and_deduplicates(data_dir: Path) -> None:
    """Articles are sorted by published_at, windowed, and repeated or known ids skipped."""
    files = resolve_inputs([str(data_dir / "good"), str(data_dir / "good" / "rafah.txt")])
    cands = list(read_inputs(files))
    cands.append(cands[0])  # the same article twice in one run
    everything = plan(cands, Limits())
    dates = [a.article.published_at for a in everything.articles]
    assert dates == sorted(dates) and len(dates) == 6
    assert everything.duplicates == 1 and not everything.rejections

    known = {everything.articles[0].article.id}
    window = plan(
        cands,
        Limits(),
        since=parse_bound("2023-11-13"),
        until=parse_bound("2023-11-14", end=True),
        already_published=known,
    )
    assert window.filtered == 3  # the 12th, the 15th and the 16th
    assert all(
        dt.date(2023, 11, 13) <= a.article.published_at.date() <= dt.date(2023, 11, 14)
        for a in window.articles
    )
    assert known.isdisjoint(a.article.id for a in window.articles)


def test_plan_collects_rejections(data_dir: Path) -> None:
    """Every bad fixture file is rejected with the reason its name announces."""
    bad = data_dir / "bad"
    work = plan(read_inputs(resolve_inputs([str(bad)])), Limits(max_body_bytes=1000))
    reasons = {Path(r.origin.file or "").stem: r.reason.value for r in work.rejections}
    assert reasons == {name: name for name in reasons}
    assert set(reasons) == {p.stem for p in bad.iterdir()}
    assert len(work.articles) == 1  # the good first line of malformed_json.jsonl


def test_published_index_roundtrip(tmp_path: Path) -> None:
    """The local index remembers ids per cluster and topic."""
    s = Settings(state_dir=tmp_path, kafka_bootstrap="h:1", topic_prefix="a.")
    idx = PublishedIndex(s)
    assert idx.load() == set()
    idx.add(["x", "y"])
    idx.add(["z"])
    assert PublishedIndex(s).load() == {"x", "y", "z"}
    other = Settings(state_dir=tmp_path, kafka_bootstrap="h:1", topic_prefix="b.")
    assert PublishedIndex(other).load() == set()


def _rejection(reason: Reason, detail: str = "d") -> Rejection:
    return Rejection(reason, detail, b"", Origin("f.txt", 2), "src")


def test_summary_counts_reasons_and_sets_exit_code() -> None:
    """Rejections make the exit code 1 unless --keep-going; their lines are terminal-safe."""
    s = ReplaySummary(planned=3, published=3, elapsed_s=1.5, topic="news.articles.raw")
    assert s.exit_code() == 0
    s.rejections = [
        _rejection(Reason.EMPTY_BODY),
        _rejection(Reason.EMPTY_BODY),
        _rejection(Reason.MALFORMED_JSON, "bad \x1b]0;pwned\x07 title"),
    ]
    assert s.exit_code() == 1 and s.exit_code(keep_going=True) == 0
    assert s.rejected_by_reason == {"empty_body": 2, "malformed_json": 1}
    text = s.render()
    assert "published 3 article(s)" in text and "empty_body: 2" in text
    assert "f.txt:2: malformed_json" in text
    assert "\x1b" not in text and "\x07" not in text


def test_summary_failures_exit_non_zero_even_with_keep_going() -> None:
    """Records Kafka did not acknowledge are never hidden by --keep-going."""
    assert ReplaySummary(failed=1).exit_code(keep_going=True) == 1
    assert ReplaySummary(error="no broker").exit_code(keep_going=True) == 1


def test_progress_plain_lines_when_not_a_terminal() -> None:
    """Without a TTY the progress is a plain line (here forced at the end)."""
    out = io.StringIO()
    p = Progress(10, out, tty=False, every_s=3600)
    p.update(5)  # too soon for a periodic line
    p.update(10, final=True)
    assert out.getvalue().startswith("replay: 10/10 published (100%)")
    assert "\r" not in out.getvalue()


def test_progress_bar_on_a_terminal() -> None:
    """On a TTY the progress redraws one bar line."""
    out = io.StringIO()
    p = Progress(4, out, tty=True, every_s=0)
    p.update(2)
    p.update(4, final=True)
    assert out.getvalue().count("\r") == 2 and "[###############...............]" in out.getvalue()
    assert out.getvalue().endswith("\n")


def test_problem_candidates_keep_their_payload() -> None:
    """A reading problem reaches the plan as a rejection with the original bytes."""
    cand = Candidate(b"\xff", Origin("x", 1), problem=Problem(Reason.UNDECODABLE_BYTES, "d"))
    work = plan([cand], Limits())
    assert work.rejections[0].payload == b"\xff"
