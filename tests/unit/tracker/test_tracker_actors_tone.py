"""Actors (first seen, counts, co-occurrence, salience) and rolling relation tone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.tracker.builders import (
    PUBLISHED,
    PartitionedStore,
    article_entities,
    article_events,
    entity,
    event,
    in_partition,
)

from newsmon.tracker.actors import ActorRegistry, material_change
from newsmon.tracker.tone import ToneTracker


def test_first_sighting_published_once_with_co_occurrence() -> None:
    """Each actor gets one first_seen record listing who else the article names."""
    reg = ActorRegistry({}, {})
    rec = article_entities(
        "a1",
        entity("blinken", "Antony Blinken", mentions=3),
        entity("turkey", "Turkey", "GPE", actor_type="state"),
    )
    out = reg.process(rec)
    assert [(r.actor.id, r.update, r.mentions, r.articles) for r in out] == [
        ("blinken", "first_seen", 3, 1),
        ("turkey", "first_seen", 1, 1),
    ]
    assert [c.id for c in out[0].co_occurring] == ["turkey"]
    assert out[0].first_seen == PUBLISHED and out[0].first_article_id == "a1"
    assert reg.process(rec) == []  # replay: nothing counted twice


def test_salience_published_only_on_material_change() -> None:
    """A second article (count reaches 2) is material; a third is not; the fourth is."""
    reg = ActorRegistry({}, {})
    updates = [
        reg.process(article_entities(f"a{i}", entity("fidan", "Hakan Fidan"))) for i in range(1, 5)
    ]
    assert [[r.update for r in u] for u in updates] == [
        ["first_seen"],
        ["salience"],
        [],
        ["salience"],
    ]
    assert updates[-1][0].articles == 4


def test_material_change_by_mentions() -> None:
    """Mentions that double (by at least 3) are a material change."""
    assert material_change({"mentions": 3, "articles": 2}, 6, 3)
    assert not material_change({"mentions": 3, "articles": 2}, 5, 3)


def test_earlier_late_article_moves_first_seen_back() -> None:
    """A late article published earlier becomes the first sighting."""
    reg = ActorRegistry({}, {})
    reg.process(article_entities("a2", entity("fidan", "Hakan Fidan")))
    early = PUBLISHED - dt.timedelta(days=3)
    (rec,) = reg.process(article_entities("a1", entity("fidan", "Hakan Fidan"), published=early))
    assert (rec.first_seen, rec.first_article_id) == (early, "a1")


def test_tone_rolling_sum_and_mean_over_window(d: Any) -> None:
    """Goldstein sum/mean per ordered pair over the window; older events roll out."""
    tone = ToneTracker({}, window_days=7)
    (r1,) = tone.process(article_events("a1", event("e1", d(1), 2.0, cameo="042")))
    (r2,) = tone.process(article_events("a2", event("e2", d(5), -4.0)))
    assert (r2.events, r2.goldstein_sum, r2.goldstein_mean, r2.previous_mean) == (
        2,
        -2.0,
        -1.0,
        2.0,
    )
    (r3,) = tone.process(article_events("a3", event("e3", d(10), -6.0, cameo="172")))
    assert (r3.events, r3.goldstein_sum, r3.window_end) == (2, -10.0, d(10))  # e1 rolled out
    assert r1.previous_mean is None and r3.article_ids[-1] == "a3"


def test_tone_ignores_negated_untargeted_duplicates_and_too_old(d: Any) -> None:
    """Negated, untargeted, repeated (pair, CAMEO, date) and out-of-window events do not count."""
    tone = ToneTracker({}, window_days=7)
    tone.process(article_events("a1", event("e1", d(20), -4.0)))
    assert tone.process(article_events("a2", event("e2", d(20), -4.0))) == []  # same action, date
    assert tone.process(article_events("a3", event("e3", d(19), -4.0, negated=True))) == []
    assert tone.process(article_events("a4", event("e4", d(19), -4.0, target=None))) == []
    assert tone.process(article_events("a5", event("e5", d(1), -9.0, cameo="190"))) == []
    assert tone.process(article_events("a1", event("e1", d(20), -4.0))) == []  # replay


def test_tone_pairs_are_ordered(d: Any) -> None:
    """(Turkey, Israel) and (Israel, Turkey) are different pairs."""
    tone = ToneTracker({}, window_days=7)
    tone.process(article_events("a1", event("e1", d(1), -4.0)))
    (r,) = tone.process(article_events("a2", event("e2", d(1), 3.0, "042", "israel", "turkey")))
    assert (r.actor.id, r.target.id, r.events) == ("israel", "turkey", 1)


def test_an_articles_actors_share_one_dedup_entry_per_partition() -> None:
    """The dedup table holds one entry per article and partition, listing its actors; each
    actor still counts once however often the article comes back."""
    from newsmon.core import topics
    from newsmon.core.bundles import partition_of

    seen: dict[str, Any] = {}
    reg = ActorRegistry({}, seen)
    ids = [f"actor-{i}" for i in range(12)]
    rec = article_entities("a1", *(entity(i, i.title()) for i in ids))
    assert len(reg.process(rec)) == 12
    partitions = {partition_of(i) for i in ids}
    assert set(seen) == {f"a1#p{p}" for p in partitions}
    assert len(seen) <= topics.PARTITIONS < len(ids)
    for p in partitions:
        assert sorted(seen[f"a1#p{p}"]) == sorted(i for i in ids if partition_of(i) == p)
    assert reg.process(rec) == []
    assert reg.store["actor-0"]["articles"] == 1


def test_sightings_are_routed_as_one_item_per_partition() -> None:
    """An article's actors travel in one item per partition they fall in, keyed so that the
    item reaches that partition; the article's fields and companions are in it once."""
    from newsmon.core.bundles import partition_of
    from newsmon.tracker.actors import CO_PER_SIGHTING, route_entities

    ids = [f"actor-{i}" for i in range(20)]
    rec = article_entities("a1", *(entity(i, i.title(), mentions=1 + n) for n, i in enumerate(ids)))
    routed = route_entities(rec)
    partitions = {partition_of(i) for i in ids}
    assert len(routed) == len(partitions) < len(ids)
    seen = []
    for key, item in routed:
        members = [e["id"] for e in item["entities"]]
        assert {partition_of(m) for m in members} == {partition_of(key)}
        assert key == members[0] and item["article_id"] == "a1"
        seen += members
    assert sorted(seen) == sorted(ids)  # every actor once, in the article's order per group
    # the companions: the most mentioned actors, one more than an actor lists
    (_, first), *_ = routed
    assert [c[0] for c in first["co"]] == ids[::-1][: CO_PER_SIGHTING + 1]


def test_grouped_and_single_sightings_count_the_same() -> None:
    """A sighting routed one per actor by an earlier version still counts, and shares its
    dedup entry with the grouped form: the article counts once per actor either way."""
    from newsmon.tracker.actors import route_entities

    rec = article_entities(
        "a1", entity("blinken", "Antony Blinken", mentions=2), entity("turkey", "Turkey", "GPE")
    )
    grouped = ActorRegistry({}, {})
    expected = grouped.process(rec)
    single = ActorRegistry({}, {})
    got = []
    for _key, item in route_entities(rec):
        for ent in item["entities"]:
            others = [c for c in item["co"] if c[0] != ent["id"]]
            old = {k: v for k, v in item.items() if k not in ("entities", "co")}
            old.update(entity=ent, co=others)
            got += [r for _, r in single.apply(ent["id"], old)]
    strip = [(r.actor.id, r.mentions, r.articles, r.co_occurring, r.evidence) for r in expected]
    assert [(r.actor.id, r.mentions, r.articles, r.co_occurring, r.evidence) for r in got] == strip
    assert single.store == grouped.store and single.seen == grouped.seen
    assert single.process(rec) == []  # the grouped form of the same article: already counted


def test_an_actor_listed_twice_in_an_article_counts_once() -> None:
    reg = ActorRegistry({}, {})
    rec = article_entities("a1", entity("turkey", "Turkey", "GPE"), entity("turkey", "Turkey"))
    (out,) = reg.process(rec)
    assert (out.actor.id, out.articles, out.mentions) == ("turkey", 1, 1)


def test_a_sighting_of_the_first_versions_still_counts() -> None:
    """Its mentions listed whole and its companions as {"id", "name"} objects."""
    reg = ActorRegistry({}, {})
    old = {
        "article_id": "a1",
        "source": "guardian",
        "published_at": PUBLISHED.isoformat(),
        "ingested_at": PUBLISHED.isoformat(),
        "entity": {
            "id": "turkey",
            "name": "Turkey",
            "type": "GPE",
            "actor_type": "state",
            "known": True,
            "mentions": [{"text": "Turkey", "start": i * 10, "end": i * 10 + 6} for i in range(5)],
        },
        "co": [{"id": "israel", "name": "Israel"}],
    }
    ((key, rec),) = reg.apply("turkey", old)
    assert (key, rec.update, rec.mentions, rec.articles) == ("turkey", "first_seen", 5, 1)
    assert [(c.id, c.name) for c in rec.co_occurring] == [("israel", "Israel")]
    assert [e.start for e in rec.evidence] == [0, 10, 20]
    assert reg.apply("turkey", old) == []


def _random_articles(n: int, seed: int) -> list[Any]:
    import random

    rng = random.Random(seed)
    people = [(f"p{i}", f"Person {i}") for i in range(12)]
    return [
        article_entities(
            f"a{i}",
            *(entity(pid, name, mentions=rng.randint(1, 4)) for pid, name in rng.sample(people, 5)),
            published=PUBLISHED + dt.timedelta(hours=rng.randint(-72, 72)),
        )
        for i in range(n)
    ]


def test_a_batchs_sightings_count_as_one_sighting_at_a_time() -> None:
    """Staged as one batch or applied article by article, the same sightings leave the same
    counts, first sightings, evidence and companions (fewer than the trim bound here); the
    batch publishes one record per actor, with the counts after the batch."""
    from newsmon.tracker.actors import route_entities

    recs = _random_articles(60, seed=3)
    each, batch = ActorRegistry({}, {}), ActorRegistry({}, {})
    for rec in recs:
        each.process(rec)
    for rec in recs:
        for key, item in route_entities(rec):
            batch.stage(key, item)
    out = batch.flush()
    kept = ("mentions", "articles", "first_seen", "first_article_id", "evidence", "co")
    assert batch.store.keys() == each.store.keys()
    for actor_id, state in each.store.items():
        assert {k: batch.store[actor_id][k] for k in kept} == {k: state[k] for k in kept}
    assert sorted(a for a, _ in out) == sorted(each.store)  # all first seen in this batch
    assert all(r.update == "first_seen" and r.articles == each.store[a]["articles"] for a, r in out)
    assert batch.seen == each.seen


def test_a_batchs_companions_are_counted_per_sighting_with_the_first_name_given() -> None:
    """Counted a sighting at a time by hand: each actor's companions are its article's
    CO_PER_SIGHTING + 1 most mentioned actors other than itself (at most CO_PER_SIGHTING),
    and a companion keeps the name the first sighting that counted it gave (an actor's
    name may differ between articles); articles name up to 24 actors, so some actors are
    not companions of anyone in their article."""
    import random

    from newsmon.tracker.actors import CO_PER_SIGHTING, route_entities

    rng = random.Random(5)
    recs = [
        article_entities(
            f"a{i}",
            *(
                entity(f"p{k}", f"Person {k}" + ("" if rng.random() < 0.7 else f" ({i})"),
                       mentions=rng.randint(1, 9))
                for k in rng.sample(range(40), rng.randint(2, 24))
            ),
            published=PUBLISHED + dt.timedelta(hours=i),
        )
        for i in range(30)
    ]  # fmt: skip
    expected: dict[str, dict[str, list[Any]]] = {}
    for rec in recs:
        salient = sorted(rec.entities, key=lambda e: (-len(e.mentions), e.id))
        refs = [(e.id, e.name) for e in salient[: CO_PER_SIGHTING + 1]]
        for ent in rec.entities:
            co = expected.setdefault(ent.id, {})
            for ref_id, name in [r for r in refs if r[0] != ent.id][:CO_PER_SIGHTING]:
                co.setdefault(ref_id, [name, 0])[1] += 1
    registry = ActorRegistry({}, {})
    for rec in recs:
        for key, item in route_entities(rec):
            registry.stage(key, item)
    registry.flush()
    assert {a: state["co"] for a, state in registry.store.items()} == expected


def test_salience_is_published_when_a_batch_passes_a_power_of_two() -> None:
    """From 3 to 9 articles in one batch passes 4 and 8: one salience record; the next batch,
    up to 15 articles, passes none."""
    reg = ActorRegistry({}, {})
    for i in range(3):
        reg.process(article_entities(f"a{i}", entity("fidan", "Hakan Fidan")))
    from newsmon.tracker.actors import route_entities

    def batch(first: int, last: int) -> list[Any]:
        for i in range(first, last):
            for key, item in route_entities(article_entities(f"a{i}", entity("fidan", "Fidan"))):
                reg.stage(key, item)
        return [r for _, r in reg.flush()]

    assert [(r.update, r.articles) for r in batch(3, 9)] == [("salience", 9)]
    assert batch(9, 15) == []
    assert material_change({"mentions": 9, "articles": 9}, 16, 16)  # reaches 16
    assert not material_change({"mentions": 8, "articles": 8}, 15, 15)


def test_flushed_states_are_written_by_a_record_that_sighted_the_actor() -> None:
    """Each actor's state is staged with the record (Faust event) of one of its sightings, so
    it lands in that record's changelog partition; a discarded batch writes nothing."""
    from newsmon.core.tables import StagedStore
    from newsmon.tracker.actors import route_entities

    store, seen = StagedStore({}), StagedStore({})
    reg = ActorRegistry(store, seen)
    owners: dict[str, set[str]] = {}
    for n, rec in enumerate(_random_articles(8, seed=5)):
        store.owner = seen.owner = f"record-{n}"
        for key, item in route_entities(rec):
            reg.stage(key, item)
            for ent in item["entities"]:
                owners.setdefault(ent["id"], set()).add(f"record-{n}")
    reg.flush()
    staged = {key: owner for key, _, owner in store.staged()}
    assert staged.keys() == owners.keys()
    assert all(staged[a] in owners[a] for a in staged)
    store.rollback()
    seen.rollback()
    for key, item in route_entities(_random_articles(1, seed=6)[0]):
        reg.stage(key, item)
    reg.discard()
    assert reg.flush() == [] and not list(store.staged())


def test_an_actor_is_counted_on_from_its_state_in_its_own_partition() -> None:
    """After a batch the current record is its last one. An actor sighted by an earlier
    record of the batch, in another partition, is read and written in that record's context
    (`scope`): a table that reads a key only in the current record's partition (Faust's
    RocksDB store, its cache empty after a restart) still finds its state and counts on."""
    from newsmon.tracker.actors import route_entities

    parts = {"turkey": 0, "israel": 1}
    store = PartitionedStore(lambda key: parts[key])
    reg = ActorRegistry(store, {}, scope=in_partition)

    def batch(*recs: Any) -> list[Any]:
        for rec in recs:
            for key, item in route_entities(rec):
                store.owner = parts[key]
                with in_partition(parts[key]):
                    reg.stage(key, item)
        with in_partition(1):  # the batch's last record
            return [r for _, r in reg.flush()]

    first = batch(article_entities("a1", entity("turkey", "Turkey", "GPE")))
    assert [(r.actor.id, r.update) for r in first] == [("turkey", "first_seen")]
    out = batch(
        article_entities("a2", entity("turkey", "Turkey", "GPE")),
        article_entities("a3", entity("israel", "Israel", "GPE")),
    )
    assert [(r.actor.id, r.update, r.articles) for r in out] == [
        ("turkey", "salience", 2),
        ("israel", "first_seen", 1),
    ]
    assert store["turkey"]["articles"] == 2
