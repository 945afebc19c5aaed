"""Wan's text side: the repository's tokenizer.json (via `tokenizers`) and the umT5 encoder.

As in the reference pipeline: prompts are cleaned of stray whitespace and HTML escapes,
cut at 512 tokens, encoded, zeroed past each prompt's end and padded to 512 positions,
which the DiT then attends to in full.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from sora_cli.models.interface import Encoded
from sora_cli.models.wan.configs import UMT5Config
from sora_cli.models.wan.umt5 import UMT5Encoder

MAX_TOKENS = 512


def clean(prompt: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(html.unescape(prompt))).strip()


class SentencePieceTokenizer:
    """The `encode(text, max_tokens) -> Encoded` interface over a tokenizer.json (umT5's vocabulary)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))

    def __len__(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str, max_tokens: int) -> Encoded:
        # An open vocabulary: no word is unknown.
        return Encoded(self.tok.encode(clean(text)).ids[:max_tokens], [])


class WanTextEncoder(nn.Module):
    def __init__(self, cfg: UMT5Config, length: int = MAX_TOKENS):
        super().__init__()
        self.length = length
        self.umt5 = UMT5Encoder(cfg)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        hidden = self.umt5(ids, mask.long()) * mask[..., None].to(self.umt5.shared.weight.dtype)
        return F.pad(hidden, (0, 0, 0, self.length - hidden.shape[1]))

