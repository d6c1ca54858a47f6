"""Feed parsing (RSS 2.0, RSS 1.0, Atom), entry ids, backoff schedule and the state file."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsmon.core.config import Feed
from newsmon.core.intake.records import Accepted
from newsmon.core.intake.validation import validate
from newsmon.ingester.feeds import (
    FeedParseError,
    FeedState,
    FeedStateStore,
    backoff_delay,
    entry_candidate,
    parse_feed,
)

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example News</title>
<item><title>Talks &amp; aid</title><link>https://example.com/a?utm_source=rss</link>
<guid>tag:example.com,2023:a</guid><pubDate>Mon, 13 Nov 2023 14:30:00 GMT</pubDate>
<description><![CDATA[<p>Short <b>summary</b>.</p>]]></description>
<content:encoded><![CDATA[<p>Full text of the article.</p>
<p>Second paragraph.</p>]]></content:encoded>
</item>
<item><title>No link</title><guid isPermaLink="false">42</guid>
<pubDate>Tue, 14 Nov 2023 09:00:00 +0000</pubDate><description>Plain body.</description></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<entry><id>urn:uuid:1</id><title type="html">Hamas &lt;b&gt;talks&lt;/b&gt;</title>
<link rel="self" href="https://example.com/self"/><link href="https://example.com/atom-1"/>
<published>2023-11-13T10:00:00+01:00</published><updated>2023-11-14T00:00:00Z</updated>
<summary>Summary only.</summary>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>Xhtml <em>body</em>.</p></div></content>
</entry>
<entry><id>urn:uuid:2</id><title>Second</title><updated>2023-11-15T00:00:00Z</updated>
<content type="html">&lt;p&gt;Escaped &amp;amp; html&lt;/p&gt;</content></entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://example.com/"><title>RDF News</title></channel>
<item rdf:about="https://example.com/r1"><title>R1</title><link>https://example.com/r1</link>
<dc:date>2023-11-13T08:00:00Z</dc:date><description>RDF body.</description></item>
</rdf:RDF>"""

FEED = Feed(url="http://127.0.0.1:1/feed.xml", name="Example", interval_s=60)


def test_rss_items_prefer_full_content_stripped_of_html() -> None:
    """RSS 2.0: content:encoded over description, HTML stripped, guid as the seen key."""
    title, entries = parse_feed(RSS)
    assert title == "Example News"
    first = entries[0]
    assert first.key == "tag:example.com,2023:a"
    assert first.title == "Talks & aid"
    assert first.body == "Full text of the article.\n\nSecond paragraph."
    assert first.published == "Mon, 13 Nov 2023 14:30:00 GMT"
    assert entries[1].body == "Plain body." and entries[1].link is None


def test_atom_entries_use_alternate_link_and_text_constructs() -> None:
    """Atom: alternate link, published over updated, html/xhtml content decoded to text."""
    title, entries = parse_feed(ATOM)
    assert title == "Atom News"
    a, b = entries
    assert a.link == "https://example.com/atom-1" and a.key == "urn:uuid:1"
    assert a.title == "Hamas talks"
    assert a.body == "Xhtml body."
    assert a.published == "2023-11-13T10:00:00+01:00"
    assert b.body == "Escaped & html" and b.published == "2023-11-15T00:00:00Z"


def test_rss1_rdf_is_read() -> None:
    """RSS 1.0 (RDF) items with dc:date are read too."""
    title, [entry] = parse_feed(RDF)
    assert title == "RDF News"
    assert entry.key == "https://example.com/r1" and entry.published == "2023-11-13T08:00:00Z"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"<html><body>nope</body></html>", "not an RSS or Atom"),
        (b"<rss><channel>", "well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><rss/>', "entities"),
        (b"<rss/>", "without <channel>"),
    ],
)
def test_unreadable_feeds_raise_parse_errors(data: bytes, match: str) -> None:
    """Not-a-feed, broken XML and entity declarations are refused with a reason."""
    with pytest.raises(FeedParseError, match=match):
        parse_feed(data)


def test_entries_become_valid_articles_with_stable_ids() -> None:
    """A linked entry is identified by its URL, an unlinked one by feed + guid."""
    _, entries = parse_feed(RSS)
    linked, unlinked = (validate(entry_candidate(e, FEED)) for e in entries)
    assert isinstance(linked, Accepted) and isinstance(unlinked, Accepted)
    assert linked.article.source == "Example"
    assert linked.article.url == "https://example.com/a?utm_source=rss"
    again = validate(entry_candidate(parse_feed(RSS)[1][1], FEED))
    assert isinstance(again, Accepted) and again.article.id == unlinked.article.id


def test_backoff_doubles_and_caps() -> None:
    """The poll delay doubles per consecutive failure, is capped, and jitter adds at most 10%."""
    assert [backoff_delay(10, n, max_s=100) for n in range(5)] == [10, 20, 40, 80, 100]
    assert backoff_delay(10, 0, jitter=0.5) == pytest.approx(10.5)
    assert backoff_delay(7200, 3, max_s=3600) == 7200  # never faster than the interval
    assert backoff_delay(1, 10_000, max_s=60) == 60


def test_state_store_roundtrip_and_damage(tmp_path: Path) -> None:
    """The per-feed state survives a restart; a damaged file means starting afresh."""
    store = FeedStateStore(tmp_path)
    store.save(FEED, FeedState('"v1"', "Mon, 13 Nov 2023 00:00:00 GMT", ["a", "b"]))
    loaded = FeedStateStore(tmp_path).load(FEED)
    assert (loaded.etag, loaded.seen) == ('"v1"', ["a", "b"])
    next(tmp_path.glob("*.json")).write_text("{broken")
    assert FeedStateStore(tmp_path).load(FEED) == FeedState()
