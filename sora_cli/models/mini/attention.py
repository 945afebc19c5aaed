"""Attention pieces shared by the text encoder and the DiT."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # Statistics in float32, output in x's dtype: under bf16 autocast the attention that
        # follows then runs in bf16 too (a float32 weight here would promote it back).
        x = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(x.dtype)
        return x * self.weight.to(x.dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs of x (B, H, N, d) by angles given as cos/sin (N, d/2)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)


class Attention(nn.Module):
    """Multi-head attention with QK RMS norm; self-attention when `context` is None.

    `mask` (B, L) says which context tokens are real; `pairs` (N, L), which keys each query may attend to."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(context_dim or dim, dim)
        self.v = nn.Linear(context_dim or dim, dim)
        self.o = nn.Linear(dim, dim)
        # Normalised queries and keys keep attention logits bounded, which keeps training stable.
        self.q_norm = RMSNorm(dim // heads)
        self.k_norm = RMSNorm(dim // heads)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None,
                rope: tuple[Tensor, Tensor] | None = None, pairs: Tensor | None = None) -> Tensor:
        src = x if context is None else context
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.heads))
        k = self.k_norm(rearrange(self.k(src), "b n (h d) -> b h n d", h=self.heads))
        v = rearrange(self.v(src), "b n (h d) -> b h n d", h=self.heads)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if mask is not None:
            mask = rearrange(mask, "b l -> b 1 1 l")
        if pairs is not None:
            mask = pairs if mask is None else mask & pairs
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o(rearrange(out, "b h n d -> b n (h d)"))


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: float):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))
