"""`newsmon extract FILE... [--json]`: the extractor's output for files, no Kafka needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add this module's subcommands to the `newsmon` parser."""
    p = sub.add_parser(
        "extract",
        help="print the entities, observations and events the extractor finds in files",
        description="Run the extractor on article files (seed text, JSON, JSON Lines) without "
        "Kafka. Prints a summary per article, or with --json one JSON document per article.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", type=Path)
    p.add_argument("--json", action="store_true", help="one JSON document per article (JSON Lines)")
    p.set_defaults(func=run)


def _summary(doc: dict[str, Any]) -> str:
    from newsmon.core.textsafe import clean

    art = doc["article"]
    lines = [
        f"== {clean(art['title'], single_line=True, limit=100)}",
        f"   id {art['id']}  source {clean(art['source'], single_line=True)}  "
        f"published {art['published_at']}",
        f"   entities ({len(doc['entities'])}):",
    ]
    for e in doc["entities"]:
        mark = "" if e["known"] else " (unknown)"
        lines.append(f"     {e['name']} [{e['type']}, {e['id']}]{mark} x{len(e['mentions'])}")
    lines.append(f"   observations ({len(doc['observations'])}):")
    for o in doc["observations"]:
        approx = "~" if o["approximate"] else ""
        extra = ", ".join(
            x
            for x in (
                o["period"],
                f"at {o['location']}" if o["location"] else "",
                f"per {o['claimant']}" if o["claimant"] else "",
                " ".join(o["qualifiers"]),
                "linked" if o["linked_to"] else "",
            )
            if x
        )
        lines.append(
            f"     {o['metric']} = {approx}{o['value']:g} {o['unit']} as of {o['as_of']} ({extra})"
        )
    lines.append(f"   events ({len(doc['events'])}):")
    for v in doc["events"]:
        target = v["target"]["name"] if v["target"] else "-"
        neg = "NOT " if v["negated"] else ""
        lines.append(
            f"     {v['date']} {v['actor']['name']} -> {target}: {neg}{v['action']} "
            f"[CAMEO {v['cameo']}, quad {v['quad_class']}, goldstein {v['goldstein']:+g}]"
        )
    return clean("\n".join(lines))


def run(args: argparse.Namespace) -> int:
    from newsmon.core.config import load_settings
    from newsmon.core.intake.validation import Limits
    from newsmon.core.logs import configure
    from newsmon.core.models import Article
    from newsmon.extractor.pipeline import Extractor, extract_all
    from newsmon.extractor.sources import SourceError, read_articles

    settings = load_settings()
    configure("extract", "warning", settings.log_format)
    articles: list[Article] = []
    code = 0
    limits = Limits.from_settings(settings)
    for path in args.files:
        if not path.exists():
            print(f"newsmon extract: {path}: no such file or folder", file=sys.stderr)
            code = 1
            continue
        try:
            articles.extend(read_articles(path, limits))
        except SourceError as exc:
            print(f"newsmon extract: {exc}", file=sys.stderr)
            code = 1
    if not articles:
        return code or 1
    extractor = Extractor.from_settings(settings)
    for article, extraction in zip(articles, extract_all(extractor, articles), strict=True):
        doc = extraction.document(article)
        if args.json:
            print(json.dumps(doc, ensure_ascii=False))
        else:
            print(_summary(doc))
    return code
