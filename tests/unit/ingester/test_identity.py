"""Stable article ids."""

from __future__ import annotations

import datetime as dt

from newsmon.core.intake.identity import article_id, content_id, url_id

T = dt.datetime(2023, 11, 13, 8, tzinfo=dt.UTC)


def test_given_id_wins() -> None:
    """An id given by the input is kept as is."""
    assert article_id(given="abc", url="https://x.org/a", source="s", published_at=T, body="b") == (
        "abc"
    )


def test_url_id_ignores_tracking_fragment_case_and_slash() -> None:
    """The same article under cosmetic URL variants has one id."""
    a = url_id("https://Example.com/news/a/?utm_source=tw#top")
    assert a == url_id("https://example.com/news/a")
    assert a != url_id("https://example.com/news/b")


def test_content_id_is_stable_across_whitespace_and_time_of_day() -> None:
    """Without a URL: source + publication date + body, whitespace-insensitive."""
    a = content_id("AP", T, "Fuel  deliveries\nstopped.")
    assert a == content_id("AP", T.replace(hour=20), "Fuel deliveries stopped. ")
    assert a != content_id("Reuters", T, "Fuel deliveries stopped.")
    assert a != content_id("AP", T + dt.timedelta(days=1), "Fuel deliveries stopped.")
    assert len(a) == 16


def test_url_beats_content() -> None:
    """With a URL the id does not depend on the body."""
    one = article_id(given=None, url="https://x.org/a", source="s", published_at=T, body="v1")
    two = article_id(given=None, url="https://x.org/a", source="s", published_at=T, body="v2")
    assert one == two == url_id("https://x.org/a")
