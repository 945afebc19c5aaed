"""Raw pixels as latents: an exact, parameter-free space-to-depth and time-to-depth.

A pixel-space DiT needs no learned autoencoder, so nothing caps what it can draw and
given frames (animate, extend, loop) come back exactly. The frame layout is the causal
autoencoder's (1 + k*tf frames -> 1 + k latent frames): latent frame 0 holds the first
frame repeated tf times, each later one the next tf frames, so the engine's conditioning
by latent frame works unchanged. Each latent cell is an sf x sf x tf block of pixels.
"""

from __future__ import annotations

import torch
from einops import rearrange, repeat
from torch import Tensor

from sora_cli.models.interface import NormalisedLatents
from sora_cli.specs import VAESpec


def to_cells(video: Tensor, tf: int, sf: int) -> Tensor:
    """(B, 3, 1 + k*tf, H, W) -> (B, 3*tf*sf*sf, 1 + k, H/sf, W/sf): every cell's pixels as channels."""
    first = repeat(video[:, :, :1], "b c 1 h w -> b c r h w", r=tf)
    grouped = torch.cat([first, video[:, :, 1:]], dim=2)
    return rearrange(grouped, "b c (t r) (h p) (w q) -> b (c r p q) t h w", r=tf, p=sf, q=sf)


def from_cells(z: Tensor, tf: int, sf: int) -> Tensor:
    """The inverse of to_cells; latent frame 0's tf copies are averaged back into one frame."""
    video = rearrange(z, "b (c r p q) t h w -> b c (t r) (h p) (w q)", r=tf, p=sf, q=sf)
    first = video[:, :, :tf].mean(dim=2, keepdim=True)
    return torch.cat([first, video[:, :, tf:]], dim=2)


class PixelLatents(NormalisedLatents):
    def __init__(self, spec: VAESpec):
        super().__init__()
        self.spec = spec
        self.temporal_factor = spec.temporal_factor
        self.sf = spec.spatial_factor
        # Pixels in [-1, 1] go to the DiT as they are (x-prediction works on the data itself);
        # the buffers keep the Latents interface and let a spec rescale later without new code.
        self.register_buffer("latent_mean", torch.zeros(spec.latent_channels))
        self.register_buffer("latent_std", torch.ones(spec.latent_channels))

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, T, H, W) -> (B, 3*tf*sf*sf, 1 + (T-1)/tf, H/sf, W/sf), and zero log-variance."""
        self.latent_frames(video.shape[2])
        z = to_cells(video, self.temporal_factor, self.sf)
        return z, torch.zeros_like(z)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        return from_cells(z, self.temporal_factor, self.sf).clamp(-1.0, 1.0)
