"""A small transformer text encoder: token ids -> contextual embeddings for cross-attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sora_cli.models.mini.attention import MLP, Attention
from sora_cli.specs import TextSpec


class TextBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), MLP(dim, 4.0)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x), self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    def __init__(self, spec: TextSpec):
        super().__init__()
        self.spec = spec
        self.embed = nn.Embedding(spec.vocab_size, spec.dim)
        self.pos = nn.Parameter(torch.zeros(spec.max_tokens, spec.dim))
        self.blocks = nn.ModuleList([TextBlock(spec.dim, spec.heads) for _ in range(spec.depth)])
        self.norm = nn.LayerNorm(spec.dim)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:  # (B, L), (B, L) bool -> (B, L, D)
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)
