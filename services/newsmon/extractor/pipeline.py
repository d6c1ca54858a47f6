"""The extractor's pure core: Article in, entities + observations + events out (no Kafka)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

from newsmon.core.config import Settings
from newsmon.core.models import (
    Article,
    ArticleEntities,
    ArticleEvents,
    ArticleObservations,
    Entity,
    Event,
    Observation,
    utcnow,
)
from newsmon.extractor.catalogue import Catalogues, load_catalogues
from newsmon.extractor.entities import EntityResolver
from newsmon.extractor.events import EventExtractor
from newsmon.extractor.nlp import build_pipeline
from newsmon.extractor.quantities import QuantityExtractor

STAGES = ("parse", "entities", "quantities", "events")


@dataclass
class Extraction:
    """What the extractor found in one article, with the seconds each stage took."""

    article_id: str
    entities: list[Entity]
    observations: list[Observation]
    events: list[Event]
    timings: dict[str, float] = field(default_factory=dict)

    def records(
        self, article: Article, extracted_at: dt.datetime | None = None
    ) -> tuple[ArticleEntities, ArticleObservations, ArticleEvents]:
        """The three topic records of the article (always all three, possibly empty)."""
        at = extracted_at or utcnow()
        common = {
            "article_id": article.id,
            "source": article.source,
            "published_at": article.published_at,
            "extracted_at": at,
            "ingested_at": article.ingested_at,
        }
        return (
            ArticleEntities(**common, entities=self.entities),
            ArticleObservations(**common, observations=self.observations),
            ArticleEvents(**common, events=self.events),
        )

    def document(self, article: Article) -> dict[str, object]:
        """The `newsmon extract --json` document of the article."""
        return {
            "article": article.model_dump(mode="json"),
            "entities": [e.model_dump(mode="json") for e in self.entities],
            "observations": [o.model_dump(mode="json") for o in self.observations],
            "events": [e.model_dump(mode="json") for e in self.events],
        }


def article_date(article: Article) -> dt.date:
    """The day relative dates in the article are resolved against."""
    return article.published_at.date()


class Extractor:
    """spaCy + catalogues: builds an `Extraction` per article."""

    def __init__(self, nlp: Language, catalogues: Catalogues, batch_size: int = 16) -> None:
        self.nlp = nlp
        self.catalogues = catalogues
        self.batch_size = batch_size
        self.entities = EntityResolver(catalogues.actors)
        self.quantities = QuantityExtractor(catalogues.metrics)
        self.events = EventExtractor(catalogues.verbs)

    @classmethod
    def from_settings(cls, settings: Settings) -> Extractor:
        catalogues = load_catalogues(
            Path(settings.catalogue_dir) if settings.catalogue_dir else None
        )
        nlp = build_pipeline(settings.spacy_model, catalogues.actors)
        return cls(nlp, catalogues, settings.extractor_batch_size)

    def extract(self, article: Article) -> Extraction:
        """Extract one article."""
        return self.extract_many([article])[0]

    def extract_many(self, articles: list[Article]) -> list[Extraction]:
        """Extract a batch; spaCy parses the bodies together (`nlp.pipe`)."""
        if not articles:
            return []
        started = time.perf_counter()
        docs = list(self.nlp.pipe((a.body for a in articles), batch_size=self.batch_size))
        parse_each = (time.perf_counter() - started) / len(articles)
        return [self._from_doc(a, d, parse_each) for a, d in zip(articles, docs, strict=True)]

    def _from_doc(self, article: Article, doc: Doc, parse_s: float) -> Extraction:
        ref = article_date(article)
        t0 = time.perf_counter()
        index = self.entities.resolve(doc, ref)
        t1 = time.perf_counter()
        observations = self.quantities.extract(doc, article.id, ref, index)
        t2 = time.perf_counter()
        events = self.events.extract(doc, article.id, ref, index)
        t3 = time.perf_counter()
        return Extraction(
            article_id=article.id,
            entities=index.models(),
            observations=observations,
            events=events,
            timings={
                "parse": parse_s,
                "entities": t1 - t0,
                "quantities": t2 - t1,
                "events": t3 - t2,
            },
        )


def extract_all(extractor: Extractor, articles: Iterable[Article]) -> list[Extraction]:
    """Extract any number of articles in batches of the extractor's batch size."""
    out: list[Extraction] = []
    batch: list[Article] = []
    for article in articles:
        batch.append(article)
        if len(batch) >= extractor.batch_size:
            out += extractor.extract_many(batch)
            batch = []
    if batch:
        out += extractor.extract_many(batch)
    return out
