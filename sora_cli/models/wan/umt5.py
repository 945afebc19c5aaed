"""The umT5 encoder (Wan's text encoder), parameter for parameter as in text_encoder/.

T5 style: RMS norms without bias, unscaled dot-product attention with a learned
bucketed relative-position bias in every layer (the "u" of umT5), gated tanh-GELU MLPs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sora_cli.models.wan.configs import UMT5Config


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        x = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(self.weight.dtype)


def position_buckets(length: int, buckets: int, max_distance: int, device: torch.device) -> Tensor:
    """Bidirectional T5 buckets of (key - query): exact for small distances, logarithmic beyond."""
    rel = torch.arange(length, device=device)[None, :] - torch.arange(length, device=device)[:, None]
    half = buckets // 2
    out = (rel > 0).long() * half
    rel = rel.abs()
    exact = half // 2
    far = exact + (torch.log(rel.float() / exact) / math.log(max_distance / exact) * (half - exact)).long()
    return out + torch.where(rel < exact, rel, far.clamp(max=half - 1))


class SelfAttention(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        inner = cfg.num_heads * cfg.d_kv
        self.heads = cfg.num_heads
        self.q, self.k, self.v = (nn.Linear(cfg.d_model, inner, bias=False) for _ in range(3))
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.relative_attention_bias = nn.Embedding(cfg.relative_attention_num_buckets, cfg.num_heads)

    def forward(self, x: Tensor, buckets: Tensor, mask_bias: Tensor) -> Tensor:
        q, k, v = (rearrange(p(x), "b n (h d) -> b h n d", h=self.heads) for p in (self.q, self.k, self.v))
        bias = rearrange(self.relative_attention_bias(buckets), "q k h -> 1 h q k") + mask_bias
        # T5 folds the 1/sqrt(d) scale into its weights: the product is used unscaled.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0)
        return self.o(rearrange(out, "b h n d -> b n (h d)"))


class LayerSelfAttention(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.SelfAttention = SelfAttention(cfg)
        self.layer_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)

    def forward(self, x: Tensor, buckets: Tensor, mask_bias: Tensor) -> Tensor:
        return x + self.SelfAttention(self.layer_norm(x), buckets, mask_bias)


class GatedGelu(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.wi_0 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wi_1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.wo(F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x))


class LayerFF(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.DenseReluDense = GatedGelu(cfg)
        self.layer_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.DenseReluDense(self.layer_norm(x))


class EncoderBlock(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.layer = nn.ModuleList([LayerSelfAttention(cfg), LayerFF(cfg)])

    def forward(self, x: Tensor, buckets: Tensor, mask_bias: Tensor) -> Tensor:
        x = _clamp_fp16(self.layer[0](x, buckets, mask_bias))
        return _clamp_fp16(self.layer[1](x))


def _clamp_fp16(x: Tensor) -> Tensor:
    # T5's activations overflow fp16; the reference clamps them just inside its range.
    if x.dtype != torch.float16:
        return x
    limit = torch.finfo(torch.float16).max - 1000
    return x.clamp(-limit, limit)


class Stack(nn.Module):
    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.block = nn.ModuleList([EncoderBlock(cfg) for _ in range(cfg.num_layers)])
        self.final_layer_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)


class UMT5Encoder(nn.Module):
    """ids (B, L), mask (B, L) -> hidden states (B, L, d_model)."""

    def __init__(self, cfg: UMT5Config):
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = Stack(cfg)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.shared(ids)
        buckets = position_buckets(ids.shape[1], self.cfg.relative_attention_num_buckets,
                                   self.cfg.relative_attention_max_distance, ids.device)
        mask_bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for block in self.encoder.block:
            x = block(x, buckets, mask_bias)
        return self.encoder.final_layer_norm(x)
