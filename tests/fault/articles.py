"""Articles for the fault tests, from the benchmark's deterministic generator (`bench.generator`).

Where the point of a test is not NLP, bodies are cut to their first paragraphs so that the
extractor's work per article stays small and the test fits the CI budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiokafka.partitioner import murmur2
from bench.generator import generate, reidentify, write_jsonl

from newsmon.core.models import Article


def short(article: Article, paragraphs: int = 1, max_chars: int = 1200) -> Article:
    """The article with only its first paragraph(s) (never empty, at most `max_chars`)."""
    body = "\n\n".join(article.body.split("\n\n")[:paragraphs])[:max_chars].strip()
    return article.model_copy(update={"body": body or article.body[:max_chars]})


def short_articles(n: int, seed: int, paragraphs: int = 1) -> list[Article]:
    return [short(a, paragraphs) for a in generate(n, seed=seed)]


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a key."""
    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions


def pinned(articles: Sequence[Article], partition: int, partitions: int) -> list[Article]:
    """The same articles under ids that all fall in one partition of a keyed topic.

    With every article in one partition, every downstream key (series, actor, rule|subject)
    sees its records in one fixed order, so two runs can be compared alert for alert.
    """
    out = []
    for a in articles:
        salt = 0
        while partition_of(f"{a.id}-p{salt}", partitions) != partition:
            salt += 1
        out.extend(reidentify([a], f"p{salt}"))
    return out


def jsonl(articles: Sequence[Article], path: Path) -> Path:
    return write_jsonl(articles, path)
