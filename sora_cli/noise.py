"""The noise a model starts from: white, or mixed with a smooth field (the same draw in training and sampling).

With white noise a token's own values are nearly all it needs to denoise, so a DiT can stay a
local denoiser, and from pure noise each token decides alone whether it holds the object: the
patchwork of docs/sora-mini-bakeoff.md. Mixing in a share of spatially smooth noise that drifts
slowly over frames (multi-resolution / "pyramid" noise; PYoCo's mixed noise across frames)
makes a token's noise shared with its neighbours: denoising it needs them, and from pure noise
neighbours lean the same way, so a decision is made over a region and kept from frame to frame.

Every value stays a unit normal, so a model trained on white noise still samples from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


@dataclass(frozen=True)
class NoiseSpec:
    # Share of each value's variance that comes from the smooth field (0: white noise).
    smooth: float = 0.0
    # The field's Gaussian width as a fraction of the frame's shorter side (the world's unit of
    # size), so it covers the same part of the picture at every working size and aspect.
    width: float = 0.1
    # Correlation of the field between consecutive latent frames (AR(1); 1 keeps one field).
    frame_corr: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.smooth <= 1.0:
            raise ValueError(f"noise smooth share must be in [0, 1], not {self.smooth}")
        if self.width <= 0.0:
            raise ValueError(f"noise width must be positive, not {self.width}")
        if not 0.0 <= self.frame_corr <= 1.0:
            raise ValueError(f"noise frame_corr must be in [0, 1], not {self.frame_corr}")


WHITE = NoiseSpec()


def draw(shape: tuple[int, ...], spec: NoiseSpec, gen: torch.Generator, pool: int = 1) -> Tensor:
    """Unit-normal noise of `shape` (B, C, T, H, W), drawn at `pool` times the size and averaged down.

    Drawing at twice the size and pooling is how a preview shares its full render's composition.
    """
    b, c, t, h, w = shape
    big = (b, c, t, h * pool, w * pool)
    # Drawn frame-major, as the engine always has, so a seed keeps its video under white noise.
    white = rearrange(torch.randn((b * t, c, h * pool, w * pool), generator=gen), "(b t) c h w -> b c t h w", b=b)
    unfiltered = torch.ones(1)
    white = _pooled(white, pool, unfiltered, unfiltered)
    if spec.smooth == 0.0:
        return white
    kernel = _gaussian(spec.width * min(h, w) * pool)  # sigma in cells at the drawn size
    field = _pooled(_smooth_field(big, kernel, spec.frame_corr, gen), pool, kernel, kernel)
    return (1 - spec.smooth) ** 0.5 * white + spec.smooth ** 0.5 * field


def _gaussian(sigma: float) -> Tensor:
    """A 1-D Gaussian of unit L2 norm: white noise filtered by it (along two axes) keeps unit variance."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / max(sigma, 1e-3)) ** 2)
    return k / k.norm()


def _smooth_field(shape: tuple[int, ...], kernel: Tensor, frame_corr: float, gen: torch.Generator) -> Tensor:
    b, c, t, h, w = shape
    r = (len(kernel) - 1) // 2
    seed = torch.randn((b, c, t, h + 2 * r, w + 2 * r), generator=gen)
    for i in range(1, t):  # each frame's field drifts from the last one's, keeping unit variance
        seed[:, :, i] = frame_corr * seed[:, :, i - 1] + (1 - frame_corr**2) ** 0.5 * seed[:, :, i]
    flat = rearrange(seed, "b c t h w -> (b c t) 1 h w")
    flat = F.conv2d(F.conv2d(flat, kernel.view(1, 1, -1, 1)), kernel.view(1, 1, 1, -1))  # (N, 1, h, w)
    return rearrange(flat, "(b c t) 1 h w -> b c t h w", b=b, c=c)


def _pooled(x: Tensor, pool: int, kh: Tensor, kw: Tensor) -> Tensor:
    """Average `pool` x `pool` blocks and restore unit variance (that of white noise filtered by kh, kw)."""
    if pool == 1:
        return x
    box = torch.full((pool,), 1.0 / pool)
    # The pooled value is white noise filtered by (kernel * box) along each axis: its variance is
    # the product of those filters' squared norms.
    var = (_conv1d(kh, box).square().sum() * _conv1d(kw, box).square().sum()).item()
    b = x.shape[0]
    pooled = F.avg_pool2d(rearrange(x, "b c t h w -> (b t) c h w"), pool)
    return rearrange(pooled, "(b t) c h w -> b c t h w", b=b) / var**0.5


def _conv1d(a: Tensor, b: Tensor) -> Tensor:
    return F.conv1d(a.view(1, 1, -1), b.flip(0).view(1, 1, -1), padding=len(b) - 1).flatten()
