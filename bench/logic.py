"""The tracker's and the alerter's own logic on the records fed to their services, in process.

The services' rates (`tracker_fed`, `alerter_fed`) include Kafka, Faust's per-record and
per-table-write machinery, RocksDB and the other processes sharing the machine. Running the
same records through the same code paths -- decode, route, bundle, unbundle, apply to staged
stores over cached tables, encode the outputs, run the gate -- without any of that gives the
logic's own limit, the analogue of the NLP limit for the extractor: the gap between the two is
the plumbing. Batches are shaped as in the services (router batches of `ROUTER_BATCH` records,
stateful batches of `BUNDLES_PER_BATCH` bundles); the collector is tuned as in the services.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from newsmon.core import serde
from newsmon.core.bundles import BUNDLES_PER_BATCH, bundles, unbundle
from newsmon.core.config import Settings
from newsmon.core.faustapp import BATCH_MAX, tune_gc
from newsmon.core.models import (
    ActorRecordAdapter,
    Alert,
    ArticleEvents,
    ArticleObservations,
    MetricUpdate,
)
from newsmon.core.tables import CachedTable, StagedStore

ROUTER_BATCH = BATCH_MAX
Records = list[tuple[bytes | None, bytes]]


class _CountingTable(dict[str, Any]):
    """An in-memory table that counts its writes (each one a changelog record in a service)."""

    writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def pop(self, key: str, default: Any = None) -> Any:
        self.writes += 1
        return super().pop(key, default)


def _one(item: Any) -> int:
    return 1


class _Topic:
    """Stands for an internal topic (bundles only need its name)."""

    def get_topic_name(self) -> str:
        return "bench-logic"


@contextmanager
def _service_gc() -> Iterator[None]:
    """The collector as `core.faustapp.tune_gc` sets it in the services, restored after."""
    before = gc.get_threshold()
    tune_gc(Settings().gc_threshold)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _stage(
    values: list[bytes],
    decode: Callable[[bytes], Any],
    route: Callable[[Any], list[tuple[str, Any]]],
    apply: Callable[[str, Any], list[tuple[str, Any]]],
    stores: list[StagedStore],
    encode: Callable[[Any], bytes] = serde.encode,
    facts: Callable[[Any], int] = _one,
    flush: Callable[[], list[tuple[str, Any]]] | None = None,
) -> tuple[int, list[Any]]:
    """Route `values` in router batches, then apply their bundles in stateful batches (and
    `flush` after each, as the service does); the facts applied (`facts` of each routed item)
    are counted."""
    items_done, outputs = 0, []
    for i in range(0, len(values), ROUTER_BATCH):
        items: list[tuple[str, Any]] = []
        for value in values[i : i + ROUTER_BATCH]:
            items.extend(route(decode(value)))
        records = bundles(_Topic(), items)
        for j in range(0, len(records), BUNDLES_PER_BATCH):
            for store in stores:
                store.rollback()
            for _target, key, value in records[j : j + BUNDLES_PER_BATCH]:
                for k, item in unbundle(key, value):
                    items_done += facts(item)
                    outputs.extend(encode(result) for _, result in apply(k, item))
            if flush is not None:
                outputs.extend(encode(result) for _, result in flush())
            for store in stores:
                store.commit()
    return items_done, outputs


def tracker_logic(
    data: dict[str, Records], window_days: int, coalesce: str = "unchanged"
) -> dict[str, Any]:
    """Observations per second of the tracker's logic on the fed records (no Kafka, no Faust);
    `coalesce`: which series records are published (the setting `metrics_coalesce`)."""
    from newsmon.tracker.actors import ROUTED as ENTITIES_ROUTED
    from newsmon.tracker.actors import ActorRegistry, route_entities
    from newsmon.tracker.main import as_pairs, series_hooks, staged_only
    from newsmon.tracker.series import ROUTED as OBSERVATIONS_ROUTED
    from newsmon.tracker.series import SeriesTracker, route_observations
    from newsmon.tracker.tone import ROUTED as EVENTS_ROUTED
    from newsmon.tracker.tone import ToneTracker, route_events

    tables: list[_CountingTable] = []

    def staged() -> StagedStore:
        tables.append(_CountingTable())
        return StagedStore(CachedTable(tables[-1], 2000))

    series_store, series_seen = staged(), staged()
    actors_store, actors_seen = staged(), staged()
    tone_store = staged()
    series = SeriesTracker(series_store, series_seen, window_days)
    actors = ActorRegistry(actors_store, actors_seen)
    tone = ToneTracker(tone_store, 7)

    series_apply, series_flush, _ = series_hooks(series, coalesce)
    stages = {
        "observations": (
            OBSERVATIONS_ROUTED.model_validate_json,
            route_observations,
            series_apply,
            [series_store, series_seen],
            series.encode,
        ),
        "entities": (
            ENTITIES_ROUTED.model_validate_json,
            route_entities,
            staged_only(actors.stage),
            [actors_store, actors_seen],
            serde.encode,
        ),
        "events": (
            EVENTS_ROUTED.model_validate_json,
            route_events,
            as_pairs(tone.apply),
            [tone_store],
            serde.encode,
        ),
    }
    # An actors item holds an article's sightings in one partition; each counts.
    sightings = {"entities": lambda item: len(item.get("entities", [item]))}
    observations = sum(
        len(ArticleObservations.model_validate_json(v).observations)
        for _, v in data.get("observations", [])
    )
    seconds: dict[str, float] = {}
    items: dict[str, int] = {}
    produced = 0
    with _service_gc():
        for kind, (decode, route, apply, stores, encode) in stages.items():
            values = [v for _, v in data.get(kind, [])]
            t = time.perf_counter()
            flush = {"observations": series_flush, "entities": actors.flush}.get(kind)
            items[kind], outputs = _stage(
                values,
                decode,
                route,
                apply,
                stores,
                encode,
                facts=sightings.get(kind, _one),
                flush=flush,
            )
            seconds[kind] = time.perf_counter() - t
            produced += len(outputs)
    total = sum(seconds.values())
    return {
        "observations": observations,
        "items": items,
        "outputs": produced,
        "table_writes": sum(t.writes for t in tables),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "observations_per_s": round(observations / total, 1) if total else None,
    }


def alerter_logic(data: dict[str, Records], rules_path: Any = None) -> dict[str, Any]:
    """Input records per second of the alerter's logic on the fed records (decode, evaluate,
    candidates bundled and unbundled, the gate over staged stores, alerts encoded)."""
    from newsmon.alerter.alerts import AlertGate, Evaluator
    from newsmon.alerter.rules import load_rules

    rules = load_rules(rules_path)
    evaluator = Evaluator(rules)
    stores = [StagedStore(CachedTable({})) for _ in range(3)]
    gate = AlertGate(rules, *stores, 3600.0)
    kinds: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], list[Alert]]]] = {
        "metrics": (MetricUpdate.model_validate_json, evaluator.on_metric),
        "actors": (ActorRecordAdapter.validate_json, evaluator.on_actor),
        "events": (ArticleEvents.model_validate_json, evaluator.on_events),
    }
    records = 0
    candidates = 0
    alerts = 0
    with _service_gc():
        t = time.perf_counter()
        for kind, (decode, evaluate) in kinds.items():
            values = [v for _, v in data.get(kind, [])]
            records += len(values)
            for i in range(0, len(values), ROUTER_BATCH):
                found = [
                    (f"{a.rule}|{a.subject}", {"alert": a.model_dump(mode="json")})
                    for value in values[i : i + ROUTER_BATCH]
                    for a in evaluate(decode(value))
                ]
                candidates += len(found)
                for j, (_target, key, value) in enumerate(bundles(_Topic(), found)):
                    if j % BUNDLES_PER_BATCH == 0:
                        for store in stores:
                            store.commit()
                    for _k, body in unbundle(key, value):
                        alert = gate.admit(Alert.model_validate(body["alert"]))
                        if alert is not None:
                            serde.encode(alert)
                            alerts += 1
                for store in stores:
                    store.commit()
        total = time.perf_counter() - t
    return {
        "records": records,
        "candidates": candidates,
        "alerts": alerts,
        "seconds": round(total, 3),
        "records_per_s": round(records / total, 1) if total else None,
    }
