"""Scene latents: a whole frame as one vector that describes it, drawn back at any size.

Every DiT of the bake-off (docs/sora-mini-bakeoff.md, rounds one to seven) denoised a grid of tokens
token by token: where the tokens must agree on where the one object is, each decided alone, and
objects came out as patchworks. Here a frame is one latent vector (one token of the DiT), so the
whole layout is decided inside one token, and the decoder can only draw frames like the world's.

The latent is laid out as the world describes a frame (SCENE_LAYOUT): its background, then one slot
per object (present, colour, shape, centre, size, angle). The renderer knows these for every frame
it draws, so the autoencoder is trained with them as targets (research/training/scene_latents.py):
the encoder regresses them from pixels, and the decoder draws frames from them. That is the cheap
supervision issue 18 names, which no real-world model has; it makes both halves learn in minutes,
and it lets the DiT train on the exact latents of rendered scenes with no encoder in its step.

The encoder scores every pixel (its colour, its difference from the frame's border colour, its
coordinates) for a few attention-pooling heads, so a head can settle on one object and read its
colour and centre. The decoder paints a background, then each slot over it: every pixel runs a small
MLP on the slot's vector and its offset from the slot's centre in slot sizes, giving a colour and a
coverage. Positions are fractions, so one latent draws the same scene at every size and aspect: a preview is
its full render's latent drawn smaller. Time is not compressed: each latent frame is one frame.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

from sora_cli.models.interface import NormalisedLatents
from sora_cli.specs import VAESpec

# Fourier frequencies (in cycles over the frame) of the encoder's coordinate channels: with them a
# small convolution knows where it is in the frame to a few pixels, so pooling can read positions.
FREQUENCIES = (1, 2, 4, 8, 16)
POOL_HEADS = 8


def coordinates(height: int, width: int, device, dtype, frequencies: tuple[int, ...] = FREQUENCIES) -> Tensor:
    """(5 + 4 * len(frequencies), H, W): x and y as fractions of the frame in [-1, 1], as fractions
    of its shorter side, log aspect, and sin / cos features of the frame fractions."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    short = min(height, width)
    aspect = torch.full_like(x, math.log(width / height))
    feats = [x, y, x * width / short, y * height / short, aspect]
    for f in frequencies:
        feats += [torch.sin(math.pi * f * x), torch.cos(math.pi * f * x),
                  torch.sin(math.pi * f * y), torch.cos(math.pi * f * y)]
    return torch.stack(feats).to(dtype)


COORDS = 5 + 4 * len(FREQUENCIES)
# The decoder's pixels know x and y as fractions of the frame and of its shorter side (no Fourier features:
# a shape is a simple function of the pixel's offset from its centre, which one linear layer can form).
PIXEL_COORDS = 4
# How a frame's latent is laid out (research/training/scene_latents.py writes the world's frames this way):
# the background (colour, black and white), then per object slot: present, colour, shape (3), centre (2),
# size, angle (4: cos and sin of 3 and 4 times it, a triangle's and a square's symmetries).
BACKGROUND, SLOT, SLOTS = 4, 14, 2
SCENE_LAYOUT = BACKGROUND + SLOT * SLOTS
# Where a slot's centre (x, y) and then its size sit in the slot's vector.
CENTRE = 7
# A slot's pixels know their offset from its centre in its sizes (2), and where they are in the frame (2).
SLOT_COORDS = 4


class FrameEncoder(nn.Module):
    """Finds a frame's background and objects by attention over its pixels.

    Each pixel is its colour, its difference from the frame's border colour (the world's backgrounds are flat,
    and objects cover a few percent of a frame) and its coordinates; a per-pixel MLP scores it for a few pooling
    heads and gives it a value, so a head can settle on one object and read its colour and centre as weighted
    means. Shallow on purpose: a deep plain conv net learned no object in 600 steps here, this learns them
    in a few hundred.
    """

    def __init__(self, spec: VAESpec):
        super().__init__()
        hidden = 4 * spec.base_channels
        self.pixel = nn.Sequential(nn.Conv2d(6 + COORDS, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1),
                                   nn.SiLU(), nn.Conv2d(hidden, hidden, 1))
        self.score = nn.Conv2d(hidden, POOL_HEADS, 1)
        self.out = nn.Sequential(nn.Linear(POOL_HEADS * (hidden + 6 + COORDS), 8 * spec.latent_channels), nn.SiLU(),
                                 nn.Linear(8 * spec.latent_channels, spec.latent_channels))

    def forward(self, frames: Tensor) -> Tensor:  # (N, 3, H, W) -> (N, z)
        n, _, h, w = frames.shape
        border = torch.cat([frames[..., 0, :], frames[..., -1, :], frames[..., :, 0], frames[..., :, -1]], dim=-1)
        away = frames - border.median(dim=-1).values[..., None, None]
        where = repeat(coordinates(h, w, frames.device, frames.dtype), "c h w -> n c h w", n=n)
        x = torch.cat([frames, away, where], dim=1)
        feats = self.pixel(x)
        attn = self.score(feats).flatten(2).softmax(dim=-1)  # (N, heads, HW): where each head looks
        value = torch.cat([feats, x], dim=1).flatten(2)  # (N, C, HW)
        return self.out(torch.einsum("nks,ncs->nkc", attn, value).flatten(1))


class FrameDecoder(nn.Module):
    """Draws a frame from its latent: a background, then each object slot over it (painter's order).

    The latent is laid out as the world's frames are described (SCENE_LAYOUT): a background part and
    SLOTS object parts. Every pixel of a slot runs one small MLP on the slot's vector and the pixel's
    offset from the slot's centre in units of the slot's size (as Invariant Slot Attention's decoder,
    Biza et al. 2023), giving a colour and a coverage. A shape is then one function at every place,
    size and aspect, which the MLP learns in minutes; on absolute coordinates it drew ellipses.
    """

    def __init__(self, spec: VAESpec):
        super().__init__()
        self.hidden = hidden = 4 * spec.base_channels
        self.background = nn.Sequential(nn.Linear(BACKGROUND + PIXEL_COORDS, hidden), nn.SiLU(), nn.Linear(hidden, 3))
        self.slot = nn.Sequential(nn.Linear(SLOT + SLOT_COORDS, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                  nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 4))

    def forward(self, z: Tensor, height: int, width: int) -> Tensor:  # (N, z) -> (N, 3, H, W)
        n = z.shape[0]
        where = rearrange(coordinates(height, width, z.device, z.dtype, ())[:PIXEL_COORDS], "c h w -> 1 (h w) c")
        parts = z.split([BACKGROUND] + [SLOT] * SLOTS, dim=1)
        image = self.background(torch.cat([parts[0][:, None].expand(-1, where.shape[1], -1),
                                           where.expand(n, -1, -1)], dim=-1))  # (N, HW, 3)
        short = min(height, width)
        for part in parts[1:]:
            # the pixel's offset from the slot's centre in shorter sides, then in the slot's sizes
            size = ((part[:, CENTRE + 2] + 1) / 4).clamp_min(0.01)[:, None, None]
            dx = (where[..., :1] - part[:, None, CENTRE, None]) * width / (2 * short) / size
            dy = (where[..., 1:2] - part[:, None, CENTRE + 1, None]) * height / (2 * short) / size
            out = self.slot(torch.cat([part[:, None].expand(-1, where.shape[1], -1), dx, dy,
                                       where[..., :2].expand(n, -1, -1)], dim=-1))
            cover = torch.sigmoid(out[..., :1])
            image = image * (1 - cover) + out[..., 1:] * cover
        return rearrange(image, "n (h w) c -> n c h w", h=height)


class FrameLatents(NormalisedLatents):
    """(B, 3, T, H, W) <-> (B, z, T, 1, 1): one latent vector a frame, at any size."""

    def __init__(self, spec: VAESpec):
        super().__init__()
        if spec.latent_channels != SCENE_LAYOUT:
            raise ValueError(f"frame latents have {SCENE_LAYOUT} channels (the scene layout), "
                             f"not {spec.latent_channels}")
        self.spec = spec
        self.temporal_factor = 1
        self.encoder = FrameEncoder(spec)
        self.decoder = FrameDecoder(spec)
        self.register_buffer("latent_mean", torch.zeros(spec.latent_channels))
        self.register_buffer("latent_std", torch.ones(spec.latent_channels))

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, T, H, W) -> the frames' scene latents (B, z, T, 1, 1), and zero log-variance (deterministic)."""
        b = video.shape[0]
        mean = rearrange(self.encoder(rearrange(video, "b c t h w -> (b t) c h w")), "(b t) c -> b c t 1 1", b=b)
        return mean, torch.zeros_like(mean)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """(B, z, T, 1, 1) -> (B, 3, T, H, W) at `size` (height, width), `chunk` latent frames at a time."""
        if size is None:
            raise ValueError("frame latents need the size to draw them at")
        b = z.shape[0]
        # by default as many frames at once as keep the widest activation (the slot MLP's) near 16M values
        chunk = chunk or max(1, (1 << 24) // (size[0] * size[1] * self.decoder.hidden * b))
        parts = [self.decoder(rearrange(z[:, :, i:i + chunk], "b c t 1 1 -> (b t) c"), *size)
                 for i in range(0, z.shape[2], chunk)]
        return torch.cat([rearrange(p, "(b t) c h w -> b c t h w", b=b) for p in parts], dim=2)
