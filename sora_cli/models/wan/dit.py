"""The Wan2.1 diffusion transformer, parameter for parameter as in the released checkpoints.

Blocks: adaLN (a learned table plus the timestep's projection) around RoPE self-attention
with RMS-normed queries and keys, cross-attention to the text, and a tanh-GELU MLP.
Timesteps may be one per token, as Wan2.2 does; Wan2.1 was trained with one per clip,
and a per-frame timestep is how the engine holds given frames clean (training-free here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sora_cli.models.wan.configs import WanDiTConfig


def sinusoid(t: Tensor, dim: int) -> Tensor:
    """cos-then-sin timestep features (flip_sin_to_cos, no frequency shift)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLP(nn.Module):
    """linear_1 -> act -> linear_2 (names as the checkpoints have them)."""

    def __init__(self, cin: int, dim: int, act: nn.Module):
        super().__init__()
        self.linear_1, self.act, self.linear_2 = nn.Linear(cin, dim), act, nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class ConditionEmbedder(nn.Module):
    def __init__(self, cfg: WanDiTConfig):
        super().__init__()
        self.freq_dim = cfg.freq_dim
        self.time_embedder = MLP(cfg.freq_dim, cfg.dim, nn.SiLU())
        self.time_proj = nn.Linear(cfg.dim, 6 * cfg.dim)
        self.text_embedder = MLP(cfg.text_dim, cfg.dim, nn.GELU(approximate="tanh"))

    def forward(self, t: Tensor, text: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """t (N,) in [0, 1000] -> time embedding (N, D), its 6 modulations (N, 6, D), text (B, L, D)."""
        temb = self.time_embedder(sinusoid(t, self.freq_dim).to(self.time_proj.weight.dtype))
        mods = rearrange(self.time_proj(F.silu(temb)), "n (six d) -> n six d", six=6)
        return temb, mods, self.text_embedder(text)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.norm_q, self.norm_k = nn.RMSNorm(dim, eps=eps), nn.RMSNorm(dim, eps=eps)

    def forward(self, x: Tensor, ctx: Tensor | None = None, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        src = x if ctx is None else ctx
        q, k = self.norm_q(self.to_q(x)), self.norm_k(self.to_k(src))
        q, k, v = (a.unflatten(-1, (self.heads, -1)) for a in (q, k, self.to_v(src)))  # (b, n, h, d)
        if rope is not None:
            # rotated before the heads' transpose, where q and k are contiguous
            q, k = rotate(q, *rope), rotate(k, *rope)
        out = F.scaled_dot_product_attention(*(a.transpose(1, 2) for a in (q, k, v)))
        return self.to_out[0](rearrange(out, "b h n d -> b n (h d)"))


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE on interleaved pairs (x0, x1), (x2, x3), ... of (B, N, heads, d) with (N, 1, d/2) angles' cos and sin."""
    a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
    # Written into the pairs' slots of one output: stacking them cost a copy of q and k per layer.
    # The products are float32 (cos and sin are); the output keeps x's dtype, as the reference's
    # does: a float32 copy of x and a float32 output cost bf16 steps 6 MB more at 560 tokens.
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


class GeluProj(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.net = nn.ModuleList([GeluProj(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x: Tensor) -> Tensor:
        return self.net[2](self.net[0](x))


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the weights' dtype: in bf16 or fp16 the affine
    cross-attention norm would otherwise mix a float32 input with half-precision weights."""

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)


class Block(nn.Module):
    def __init__(self, cfg: WanDiTConfig):
        super().__init__()
        dim = cfg.dim
        self.norm1 = nn.LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.attn1 = Attention(dim, cfg.num_attention_heads, cfg.eps)
        self.attn2 = Attention(dim, cfg.num_attention_heads, cfg.eps)
        self.norm2 = FP32LayerNorm(dim, cfg.eps, elementwise_affine=True) if cfg.cross_attn_norm else nn.Identity()
        self.ffn = FeedForward(dim, cfg.ffn_dim)
        self.norm3 = nn.LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(self, x: Tensor, ctx: Tensor, mods: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        # mods: (B, 6, D) for one timestep a clip, (B, N, 6, D) for one a token
        table = self.scale_shift_table if mods.ndim == 3 else self.scale_shift_table[:, None]
        shift, scale, gate, c_shift, c_scale, c_gate = (table + mods.float()).unbind(-2)
        if mods.ndim == 3:
            shift, scale, gate, c_shift, c_scale, c_gate = (m[:, None] for m in
                                                            (shift, scale, gate, c_shift, c_scale, c_gate))
        h = (self.norm1(x.float()) * (1 + scale) + shift).type_as(x)
        x = add_in_float(x, self.attn1(h, rope=rope) * gate)
        x = x + self.attn2(self.norm2(x.float()).type_as(x), ctx)
        h = (self.norm3(x.float()) * (1 + c_scale) + c_shift).type_as(x)
        return add_in_float(x, self.ffn(h).float() * c_gate)


def add_in_float(x: Tensor, branch: Tensor) -> Tensor:
    """x + branch in float32, in x's dtype. A function so that the branch runs before x's float32
    copy exists and neither outlives the add: inline, `x.float() + ffn(h)` kept a 6.6 MB copy alive
    through the FFN (bf16, 560 tokens), the step's peak."""
    return (x.float() + branch).type_as(x)


class WanTransformer(nn.Module):
    def __init__(self, cfg: WanDiTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.dim
        self.patch_embedding = nn.Conv3d(cfg.in_channels, dim, cfg.patch_size, stride=cfg.patch_size)
        self.condition_embedder = ConditionEmbedder(cfg)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.norm_out = nn.LayerNorm(dim, cfg.eps, elementwise_affine=False)
        self.proj_out = nn.Linear(dim, cfg.out_channels * math.prod(cfg.patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def rope(self, grid: tuple[int, int, int], device: torch.device) -> tuple[Tensor, Tensor]:
        """cos and sin (N, 1, head_dim/2) for a (frames, height, width) token grid."""
        head = self.cfg.attention_head_dim
        hw = 2 * (head // 6)
        angles = []
        for axis, dim in enumerate((head - 2 * hw, hw, hw)):
            freqs = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim))
            pos = torch.arange(grid[axis], dtype=torch.float64, device=device)
            shape = [1, 1, 1, dim // 2]
            shape[axis] = grid[axis]
            angles.append(torch.outer(pos, freqs).view(shape).expand(*grid, dim // 2))
        theta = torch.cat(angles, dim=-1).reshape(-1, 1, head // 2)  # (N, 1 for the heads, d/2)
        return torch.cos(theta).float(), torch.sin(theta).float()

    def forward(self, x: Tensor, t: Tensor, text: Tensor) -> Tensor:
        """x (B, C, F, H, W) latents, t (B,) or (B, F*H*W/patch) in [0, 1000], text (B, L, text_dim)."""
        b, _, f, h, w = x.shape
        pt, ph, pw = self.cfg.patch_size
        grid = (f // pt, h // ph, w // pw)
        rope = self.rope(grid, x.device)
        # Contiguous once here: a transposed residual stream made every residual add and copy
        # run over strided memory (3.5x slower adds, 0.75% of a forward at the 5B's widths).
        tokens = rearrange(self.patch_embedding(x), "b d f h w -> b (f h w) d").contiguous()
        per_token = t.ndim == 2
        temb, mods, ctx = self.condition_embedder(t.flatten(), text)
        if per_token:
            temb, mods = temb.unflatten(0, (b, -1)), mods.unflatten(0, (b, -1))
        for block in self.blocks:
            tokens = block(tokens, ctx, mods, rope)
        table = self.scale_shift_table if not per_token else self.scale_shift_table[:, None]
        shift, scale = (table + temb.unsqueeze(-2)).unbind(-2)
        if not per_token:
            shift, scale = shift[:, None], scale[:, None]
        tokens = (self.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        out = self.proj_out(tokens)
        return rearrange(out, "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)",
                         f=grid[0], h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw)
