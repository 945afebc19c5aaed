"""A word-level tokenizer over a fixed vocabulary (sora-mini's world has a closed one).

Words outside the vocabulary carry no meaning for the model; they are dropped and
reported so the CLI can warn about them in one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sora_cli.models.interface import Encoded

PAD, BOS = "<pad>", "<bos>"
# A word is a run of letters or digits in any script, or a run of other non-ASCII symbols (an
# emoji): so "赤い", "كرة" and "🔴" are each named as unknown, while ASCII splits as the
# vocabulary was built ("medium-sized" -> "medium", "sized").
_WORD = re.compile(r"[^\W_]+|[^\x00-\x7f\w\s]+")


class WordTokenizer:
    def __init__(self, words: list[str]):
        self.words = [PAD, BOS] + [w for w in words if w not in (PAD, BOS)]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def load(cls, path: Path) -> "WordTokenizer":
        data = json.loads(Path(path).read_text())
        if not isinstance(data, list) or not all(isinstance(w, str) for w in data):
            raise ValueError(f"{path}: a vocabulary is a JSON list of words")
        return cls(data)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.words[2:], indent=0) + "\n")

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, max_tokens: int) -> Encoded:
        ids, unknown = [self.index[BOS]], []
        for word in _WORD.findall(text.lower()):
            if word in self.index:
                ids.append(self.index[word])
            elif word not in unknown:
                unknown.append(word)
        return Encoded(ids[:max_tokens], unknown)
