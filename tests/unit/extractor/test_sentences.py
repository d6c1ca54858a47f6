"""The per-Doc sentence index gives the same spans as spaCy's `.sent`, `.sents` and `.ents`."""

from __future__ import annotations

from pathlib import Path

import pytest
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from newsmon.extractor.pipeline import Extractor
from newsmon.extractor.sentences import Sentences

SEED = Path(__file__).resolve().parents[3] / "seeds" / "000_0928fa2d644cd3ef.txt"


def _bounds(spans: list[Span]) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.label_) for s in spans]


def _assert_same_as_spacy(doc: Doc) -> None:
    sentences = Sentences(doc)
    assert _bounds(list(sentences)) == _bounds(list(doc.sents))
    for tok in doc:
        assert _bounds([sentences.of(tok.i)]) == _bounds([tok.sent])
    for sent in sentences:
        assert _bounds(sentences.ents(sent)) == _bounds(list(sent.ents))


@pytest.fixture
def doc() -> Doc:
    # three sentences; "Gaza City" stays in the first, "Red Sea" crosses into the third
    words = ["Aid", "reached", "Gaza", "City", ".", "Trucks", "waited", "in", "Red", "Sea", "ports"]
    sent_starts = [True, False, False, False, False, True, False, False, False, True, False]
    ents = ["O", "O", "B-GPE", "I-GPE", "O", "O", "O", "O", "B-LOC", "I-LOC", "O"]
    return Doc(Vocab(), words=words, sent_starts=sent_starts, ents=ents)


def test_sentence_of_each_token(doc: Doc) -> None:
    """Every token's sentence is the one `Token.sent` gives."""
    sentences = Sentences(doc)
    assert len(sentences) == 3
    assert [(sentences.of(i).start, sentences.of(i).end) for i in (0, 4, 5, 8, 9, 10)] == [
        (0, 5),
        (0, 5),
        (5, 9),
        (5, 9),
        (9, 11),
        (9, 11),
    ]
    _assert_same_as_spacy(doc)


def test_entities_wholly_inside_a_sentence(doc: Doc) -> None:
    """A sentence's entities are those inside it; one crossing its end belongs to none."""
    sentences = Sentences(doc)
    assert [e.text for e in sentences.ents(sentences.of(0))] == ["Gaza City"]
    assert sentences.ents(sentences.of(5)) == []
    assert sentences.ents(sentences.of(10)) == []


def test_token_outside_the_document(doc: Doc) -> None:
    """An index past the end is an error, as `doc[i]` would be."""
    with pytest.raises(IndexError):
        Sentences(doc).of(len(doc))


def test_matches_spacy_on_a_parsed_article(extractor: Extractor) -> None:
    """On a real parse (the seed article) every lookup equals spaCy's own."""
    _assert_same_as_spacy(extractor.nlp(SEED.read_text(encoding="utf-8")))
