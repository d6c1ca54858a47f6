"""The sentences of a parsed article, found once per Doc: spaCy rebuilds them on every
`Token.sent` / `Span.sent`, and rebuilds every entity span on every `Span.ents`."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from spacy.tokens import Doc, Span


class Sentences:
    """A Doc's sentence spans in order, with the sentence of a token and the entities of a
    sentence looked up by bisection (the same spans as `.sent` and `.ents`)."""

    def __init__(self, doc: Doc) -> None:
        self.spans: list[Span] = list(doc.sents)
        self._starts = [s.start for s in self.spans]
        self._ents: list[Span] = list(doc.ents)
        self._ent_starts = [e.start for e in self._ents]

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def of(self, i: int) -> Span:
        """The sentence of the token at index `i` (`doc[i].sent`)."""
        if not self.spans or not 0 <= i < self.spans[-1].end:
            raise IndexError(f"token index {i} is outside the document")
        return self.spans[bisect_right(self._starts, i) - 1]

    def ents(self, sent: Span) -> list[Span]:
        """The entities that lie wholly inside `sent`, in order (`sent.ents`)."""
        out: list[Span] = []
        for k in range(bisect_left(self._ent_starts, sent.start), len(self._ents)):
            ent = self._ents[k]
            if ent.end > sent.end:
                break  # entities do not overlap: every later one ends later still
            out.append(ent)
        return out
