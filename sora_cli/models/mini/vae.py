"""The video compression network: a causal 3D convolutional autoencoder.

Causal in time (a frame only sees itself and the past), so a single image is a
one-frame video and decoding can stream latent frame by latent frame with a cache,
which keeps memory flat for long clips. Frame counts are 1 + k * temporal_factor:
the first frame gets a latent of its own, every later latent holds `temporal_factor`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sora_cli.models.interface import NormalisedLatents
from sora_cli.specs import VAESpec

# Streaming state: each causal module keeps the frames it needs from the last chunk.
Cache = dict[nn.Module, Tensor]


class FrameGroupNorm(nn.Module):
    """GroupNorm over each frame on its own: statistics never mix frames, so it stays causal.

    (A per-pixel norm over channels is causal too, but with a thin network it throws
    away each pixel's magnitude and the autoencoder cannot learn flat colours.)
    """

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(max(1, min(8, channels // 4)), channels, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        b = x.shape[0]
        x = self.norm(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(x, "(b t) c h w -> b c t h w", b=b)


class CausalConv3d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        kt, kh, kw = kernel
        self.pad_t = kt - 1
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(0, kh // 2, kw // 2))

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        if self.pad_t:
            if cache is not None and self in cache:
                past = cache[self]
            else:  # the clip's start: the past is the first frame, repeated
                past = x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1)
            x = torch.cat([past, x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, -self.pad_t:].detach()
        return self.conv(x)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = FrameGroupNorm(cin), CausalConv3d(cin, cout)
        self.norm2, self.conv2 = FrameGroupNorm(cout), CausalConv3d(cout, cout)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


class Downsample(nn.Module):
    def __init__(self, channels: int, temporal: bool):
        super().__init__()
        kt, st = (3, 2) if temporal else (1, 1)
        self.conv = CausalConv3d(channels, channels, (kt, 3, 3), (st, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int, temporal: bool):
        super().__init__()
        self.temporal = temporal
        self.time_conv = CausalConv3d(channels, 2 * channels, (3, 1, 1)) if temporal else None
        self.conv = CausalConv3d(channels, channels, (1, 3, 3))

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        if self.time_conv is not None:
            started = cache is not None and self in cache
            x = rearrange(self.time_conv(x, cache), "b (r c) t h w -> b c (t r) h w", r=2)
            if not started:  # the first latent frame stands for one frame, not two
                x = x[:, :, 1:]
            if cache is not None:
                cache[self] = x.new_empty(0)
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return self.conv(x, cache)


def _stages(chans: list[int], res_blocks: int) -> nn.ModuleList:
    """Res blocks per stage; a stage's first block changes the width to its own."""
    ins = [chans[0]] + chans[:-1]
    return nn.ModuleList([nn.ModuleList([ResBlock(cin if j == 0 else ch, ch) for j in range(res_blocks)])
                          for cin, ch in zip(ins, chans)])


class Encoder(nn.Module):
    def __init__(self, spec: VAESpec):
        super().__init__()
        chans = [spec.base_channels * m for m in spec.channel_mults]
        self.conv_in = CausalConv3d(3, chans[0])
        self.stages = _stages(chans, spec.res_blocks)
        self.downs = nn.ModuleList([Downsample(ch, t) for ch, t in zip(chans, spec.temporal_down)])
        self.mid = ResBlock(chans[-1], chans[-1])
        self.conv_out = CausalConv3d(chans[-1], 2 * spec.latent_channels)

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, T, H, W) -> (B, 2z, t, h, w)
        x = self.conv_in(x)
        for i, blocks in enumerate(self.stages):
            for block in blocks:
                x = block(x)
            if i < len(self.downs):
                x = self.downs[i](x)
        x = self.mid(x)
        return self.conv_out(F.silu(x))  # no norm here: it would erase absolute levels


class Decoder(nn.Module):
    def __init__(self, spec: VAESpec):
        super().__init__()
        chans = [spec.base_channels * m for m in spec.channel_mults][::-1]
        temporal = list(spec.temporal_down)[::-1]
        self.conv_in = CausalConv3d(spec.latent_channels, chans[0])
        self.mid = ResBlock(chans[0], chans[0])
        self.stages = _stages(chans, spec.res_blocks)
        self.ups = nn.ModuleList([Upsample(ch, t) for ch, t in zip(chans, temporal)])
        self.conv_out = CausalConv3d(chans[-1], 3)

    def forward(self, z: Tensor, cache: Cache | None = None) -> Tensor:
        x = self.mid(self.conv_in(z, cache), cache)
        for i, blocks in enumerate(self.stages):
            for block in blocks:
                x = block(x, cache)
            if i < len(self.ups):
                x = self.ups[i](x, cache)
        return self.conv_out(F.silu(x), cache)


class VideoAutoencoder(NormalisedLatents):
    def __init__(self, spec: VAESpec):
        super().__init__()
        self.spec = spec
        self.temporal_factor = spec.temporal_factor
        self.encoder = Encoder(spec)
        self.decoder = Decoder(spec)
        # Per-channel statistics of the latents, measured after training, so the DiT sees unit scale.
        self.register_buffer("latent_mean", torch.zeros(spec.latent_channels))
        self.register_buffer("latent_std", torch.ones(spec.latent_channels))

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, T, H, W) in [-1, 1] -> raw mean and log-variance."""
        self.latent_frames(video.shape[2])
        mean, logvar = self.encoder(video).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """Raw latents -> (B, 3, T, H, W), streamed `chunk` latent frames at a time.

        By default a chunk is as many latent frames as keep the widest full-resolution
        activation near 64M values: all at once for small models, a few for big ones.
        """
        if chunk is None:
            f = self.spec.spatial_factor
            per_frame = self.spec.temporal_factor * z.shape[3] * f * z.shape[4] * f * self.spec.base_channels * 4
            chunk = max(1, (1 << 26) // max(1, per_frame * z.shape[0]))
        cache: Cache = {}
        parts = [self.decoder(z[:, :, i:i + chunk], cache) for i in range(0, z.shape[2], chunk)]
        return torch.cat(parts, dim=2)
