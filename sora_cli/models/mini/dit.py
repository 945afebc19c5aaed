"""The diffusion transformer: spacetime patches in, velocity out.

adaLN-Zero blocks (as in DiT) with a timestep per latent frame, so frames given as
conditions can sit at t=0 while the rest are noisy; self-attention over all spacetime
tokens with 3D RoPE; cross-attention to the text tokens. Optionally, parts of a one-cell
token (a scene latent's object slots) get tokens of their own (DiTSpec.part_tokens).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from sora_cli.models.mini.attention import MLP, Attention
from sora_cli.models.mini.rope import rope_3d
from sora_cli.specs import DiTSpec


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to 0..1000 as is customary)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[..., None] * 1000.0 * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


# Smallest t a clean prediction is divided by when it becomes a velocity (JiT clips at 0.05).
MIN_TIME = 0.05
# Frequencies per axis of the frame-position features: enough to resolve thirds of a frame.
FRAME_FREQS = 4
FRAME_FEATURES = 3 + 4 * FRAME_FREQS


def frame_position_features(grid: tuple[int, int], patch: tuple[int, int], size: tuple[int, int],
                            device: torch.device | None = None) -> Tensor:
    """(gh*gw, FRAME_FEATURES) features of where each token's centre sits in the frame.

    Coordinates are fractions of the frame's height and width (as the world's layout words
    are), so a position means the same at every size and aspect; tokens past the edge
    (padding) get coordinates just beyond 1. The frame's log aspect rides along: sizes are
    fractions of its shorter side, which a token cannot otherwise see from pure noise.
    """
    (gh, gw), (ph, pw), (h, w) = grid, patch, size
    ys = (torch.arange(gh, device=device, dtype=torch.float32) * ph + ph / 2) / h
    xs = (torch.arange(gw, device=device, dtype=torch.float32) * pw + pw / 2) / w
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    coords = torch.stack([y.reshape(-1), x.reshape(-1)], dim=-1)  # (N, 2) in [0, 1]
    k = torch.arange(1, FRAME_FREQS + 1, device=device, dtype=torch.float32) * math.pi
    angles = (coords[..., None] * k).reshape(coords.shape[0], -1)
    aspect = torch.full_like(coords[:, :1], math.log(w / h))
    return torch.cat([coords * 2 - 1, aspect, angles.cos(), angles.sin()], dim=-1)


def token_grid(shape: tuple[int, ...], patch: tuple[int, int, int]) -> tuple[int, int, int]:
    """The token grid of latents shaped (B, C, T, H, W): partial patches are padded to whole ones."""
    pt, ph, pw = patch
    _, _, T, H, W = shape
    return T // pt, -(-H // ph), -(-W // pw)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


class LocalMixing(nn.Module):
    """A depthwise convolution over the token grid, added to the residual stream (zero at the start,
    so a block grown into a trained model changes nothing until it learns)."""

    def __init__(self, dim: int, kernel: tuple[int, int, int]):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.conv = nn.Conv3d(dim, dim, kernel, padding=tuple(k // 2 for k in kernel), groups=dim)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        gt, gh, gw = grid
        h = rearrange(self.norm(x), "b (t h w) d -> b d t h w", t=gt, h=gh, w=gw)
        return rearrange(self.conv(h), "b d t h w -> b (t h w) d")


class DiTBlock(nn.Module):
    def __init__(self, spec: DiTSpec):
        super().__init__()
        d = spec.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, spec.heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, spec.heads)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(d, spec.mlp_ratio)
        self.local = LocalMixing(d, spec.local_kernel) if spec.local_kernel else None
        self.ada = nn.Linear(d, 6 * d)
        # Every block starts as the identity: adaLN-Zero gates self-attention and the MLP, and the
        # ungated cross-attention starts with a zero output (so grown blocks change nothing).
        for layer in (self.ada, self.cross.o):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor, ctx: Tensor, ctx_mask: Tensor,
                rope: tuple[Tensor, Tensor], grid: tuple[int, int, int], roles: int = 1,
                pairs: Tensor | None = None) -> Tensor:
        # c is one vector a latent frame (B, T, D): modulate there, then spread to the frame's
        # tokens; the Linear on every token instead cost a quarter of a block's matmuls. The
        # sequence is `roles` copies of the token grid (the whole tokens, then each part's).
        mods = repeat(self.ada(F.silu(c)), "b t d -> b (r t s) d", r=roles, s=x.shape[1] // (roles * c.shape[1]))
        shift1, scale1, gate1, shift2, scale2, gate2 = mods.chunk(6, dim=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1), rope=rope, pairs=pairs)
        if self.local is not None:
            x = x + self.local(x, grid)
        x = x + self.cross(self.norm2(x), ctx, ctx_mask)
        return x + gate2 * self.mlp(modulate(self.norm3(x), shift2, scale2))


class DiT(nn.Module):
    def __init__(self, spec: DiTSpec, in_channels: int, text_dim: int):
        super().__init__()
        self.spec = spec
        self.in_channels = in_channels
        pt, ph, pw = spec.patch
        patch_dim = in_channels * pt * ph * pw
        d = spec.dim
        self.patch_embed = nn.Linear(patch_dim, d)
        self.text_proj = nn.Sequential(nn.Linear(text_dim, d), nn.GELU(approximate="tanh"), nn.Linear(d, d))
        self.time_embed = nn.Sequential(nn.Linear(spec.freq_dim, d), nn.SiLU(), nn.Linear(d, d))
        if spec.pooled_text:
            self.text_pool = nn.Linear(text_dim, d)
        self.blocks = nn.ModuleList([DiTBlock(spec) for _ in range(spec.depth)])
        if spec.frame_positions:
            # Zero-initialised: a model trained without it starts out exactly as it was.
            self.frame_pos = nn.Linear(FRAME_FEATURES, d)
            nn.init.zeros_(self.frame_pos.weight)
            nn.init.zeros_(self.frame_pos.bias)
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.proj_out = nn.Linear(d, patch_dim)
        zeroed = [self.ada_out, self.proj_out]
        if spec.part_tokens:
            if max(a + k for a, k in spec.part_tokens) > patch_dim:
                raise ValueError(f"part tokens {spec.part_tokens} reach past the token's {patch_dim} channels")
            # One reading and one writing of a part's channels shared by all parts (an object slot is read
            # alike whichever it is); which part a token is comes from its embedding.
            count = spec.part_tokens[0][1]
            self.part_in = nn.Linear(count, d)
            self.part_embed = nn.Parameter(torch.randn(len(spec.part_tokens), d) * 0.02)
            self.part_out = nn.Linear(d, count)
            zeroed.append(self.part_out)
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, t: Tensor, ctx: Tensor, ctx_mask: Tensor) -> Tensor:
        """x (B, C, T, H, W) latents, t (B, T) a time per latent frame, ctx (B, L, Dt) -> velocity."""
        out = self.network(x, t, ctx, ctx_mask)
        if self.spec.predicts == "clean":
            # v = noise - x0 and x_t = (1 - t) x0 + t noise give v = (x_t - x0) / t. Near t = 0 the
            # division would blow up; those frames barely move (their step is t's own size).
            t5 = t.float().clamp_min(MIN_TIME)[:, None, :, None, None]
            return ((x.float() - out.float()) / t5).to(out.dtype)
        return out

    def network(self, x: Tensor, t: Tensor, ctx: Tensor, ctx_mask: Tensor, extra: Tensor | None = None) -> Tensor:
        """The network's own output: the velocity, or the clean latents (spec.predicts).

        `extra` (B, N, D), added to the token embeddings, is for training-only signals (token masking's flag).
        """
        pt, ph, pw = self.spec.patch
        _, _, T, H, W = x.shape
        # Pad to whole patches so any latent size works; the padding is cropped off below.
        pad_h, pad_w = (-H) % ph, (-W) % pw
        x = F.pad(x, (0, pad_w, 0, pad_h, 0, 0), mode="replicate") if pad_h or pad_w else x
        gt, gh, gw = token_grid(x.shape, self.spec.patch)
        tokens = rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)
        h = self.patch_embed(tokens)  # (B, N, D)
        if extra is not None:
            h = h + extra.to(h.dtype)
        parts = self.spec.part_tokens
        n = h.shape[1]
        if parts:
            # (B, P*N, D) after the whole tokens: the same grid again for each part.
            h = torch.cat([h] + [self.part_in(tokens[..., a:a + k]) + self.part_embed[i].to(h.dtype)
                                 for i, (a, k) in enumerate(parts)], dim=1)
        if self.spec.frame_positions:
            where = frame_position_features((gh, gw), (ph, pw), (H, W), h.device).to(h.dtype)
            h = h + repeat(self.frame_pos(where), "s d -> (r t s) d", t=gt, r=1 + len(parts))

        frame_t = t[:, ::pt]  # (B, gt)
        c = self.time_embed(timestep_embedding(frame_t, self.spec.freq_dim).to(h.dtype))  # (B, gt, D)
        if self.spec.pooled_text:
            weights = ctx_mask.to(ctx.dtype)[..., None]  # (B, L, 1)
            pooled = (ctx * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # (B, Dt)
            c = c + self.text_pool(pooled)[:, None]
        ctx = self.text_proj(ctx)
        rope = rope_3d((gt, gh, gw), self.spec.dim // self.spec.heads, self.spec.rope_theta, h.device)
        roles, pairs = 1 + len(parts), None
        if parts:
            # A part token sits where its whole token does. Whole tokens attend only to whole tokens,
            # so their path is the DiT's without parts; parts attend to everything.
            rope = tuple(r.repeat(roles, 1) for r in rope)
            pairs = torch.ones(roles * n, roles * n, dtype=torch.bool, device=h.device)
            pairs[:n, n:] = False
        for block in self.blocks:
            h = block(h, c, ctx, ctx_mask, rope, (gt, gh, gw), roles, pairs)

        shift, scale = repeat(self.ada_out(F.silu(c)), "b t d -> b (r t s) d", r=roles, s=gh * gw).chunk(2, dim=-1)
        h = modulate(self.norm_out(h), shift, scale)
        out = self.proj_out(h[:, :n])  # (B, N, patch_dim)
        if parts:
            own = self.part_out(h[:, n:]).chunk(len(parts), dim=1)  # each (B, N, count)
            for (a, k), add in zip(parts, own):  # into its own channels, zero elsewhere
                out = out + F.pad(add, (a, out.shape[-1] - a - k))
        out = rearrange(out, "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
                        t=gt, h=gh, w=gw, pt=pt, ph=ph, pw=pw)
        # contiguous: the flow loss and the x-prediction arithmetic run on this tensor, and on a
        # permuted view each elementwise pass was several times slower
        return out[:, :, :, :H, :W].contiguous()
