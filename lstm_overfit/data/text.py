"""Text processing: tokenize, build a vocabulary, numericalize."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"

# Words (with an inner apostrophe: don't, it's) or single punctuation marks.
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*|[^\sa-z0-9]")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation; HTML line breaks (`<br />`) become spaces."""
    return _TOKEN.findall(_HTML_BREAK.sub(" ", text).lower())


class Vocabulary:
    """A list of types; id 0 is padding where the vocabulary has one, unknown words map to UNK."""

    def __init__(self, itos: Sequence[str]) -> None:
        self.itos = list(itos)
        self.stoi = {word: i for i, word in enumerate(self.itos)}
        self.unk = self.stoi.get(UNK)

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(
        cls, documents: Iterable[Sequence[str]], max_size: int | None, specials: Sequence[str]
    ) -> Vocabulary:
        """The `max_size` most frequent types (ties broken alphabetically), after `specials`."""
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        for special in specials:
            counts.pop(special, None)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls([*specials, *(word for word, _ in ranked)])

    def ids(self, tokens: Sequence[str]) -> list[int]:
        stoi, unk = self.stoi, self.unk
        if unk is None:
            return [stoi[t] for t in tokens]
        return [stoi.get(t, unk) for t in tokens]
