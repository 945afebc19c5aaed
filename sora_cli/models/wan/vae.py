"""The Wan2.1 causal video VAE (4x temporal, 8x8 spatial, 16 channels), parameter for parameter.

Every module takes a streaming cache, so a clip is encoded 1 + 4 + 4 + ... frames at a
time and decoded one latent frame at a time, as the reference does: memory stays flat
for long clips, and chunked and whole-clip passes give the same result (tested).
Temporal convolutions are causal with zero padding; the first frame of each temporal
resampler passes through unchanged, which is what makes an image a one-frame video.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from sora_cli.models.interface import NormalisedLatents
from sora_cli.models.wan.configs import WanVAEConfig

Cache = dict[nn.Module, Tensor]


class CausalConv3d(nn.Conv3d):
    """A Conv3d padded causally in time (zeros before the clip, then the cache's frames)."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__(cin, cout, kernel, stride=stride, padding=0)
        pad = padding if isinstance(padding, tuple) else (padding,) * 3
        self.past = 2 * pad[0]
        self.spatial = (pad[2], pad[2], pad[1], pad[1])

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        if self.past:
            if cache is not None and self in cache:
                past = cache[self]
            else:
                past = x.new_zeros(*x.shape[:2], self.past, *x.shape[3:])
            x = torch.cat([past, x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, -self.past:]
        return super().forward(F.pad(x, self.spatial + (0, 0)))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, images: bool):
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, *((1, 1) if images else (1, 1, 1))))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x.float(), dim=1).to(x.dtype) * self.scale * self.gamma


def per_frame(module: nn.Module, x: Tensor) -> Tensor:
    b = x.shape[0]
    return rearrange(module(rearrange(x, "b c t h w -> (b t) c h w")), "(b t) c h w -> b c t h w", b=b)


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = RMSNorm(cin, images=False), CausalConv3d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = RMSNorm(cout, images=False), CausalConv3d(cout, cout, 3, padding=1)
        self.conv_shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.conv_shortcut(x) + h


class AttentionBlock(nn.Module):
    """Single-head self-attention within each frame."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        b, c, t, h, w = x.shape
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        q, k, v = rearrange(self.to_qkv(self.norm(frames)), "n c h w -> n 1 (h w) c").chunk(3, dim=-1)
        out = rearrange(F.scaled_dot_product_attention(q, k, v), "n 1 (h w) c -> n c h w", h=h)
        return x + rearrange(self.proj(out), "(b t) c h w -> b c t h w", b=b)


class MidBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.attentions = nn.ModuleList([AttentionBlock(dim)])
        self.resnets = nn.ModuleList([ResidualBlock(dim, dim), ResidualBlock(dim, dim)])

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        x = self.resnets[0](x, cache)
        return self.resnets[1](self.attentions[0](x), cache)


class Downsample(nn.Module):
    """2x spatial (per frame), and for 'downsample3d' 2x in time: windows (0,1,2), (2,3,4), ..."""

    def __init__(self, dim: int, temporal: bool):
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
        self.time_conv = CausalConv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        x = per_frame(self.resample, x)
        if self.time_conv is None:
            return x
        cache = {} if cache is None else cache
        first = self not in cache
        buf = x if first else torch.cat([cache[self], x], dim=2)
        n = (buf.shape[2] - 1) // 2
        cache[self] = buf[:, :, 2 * n:]
        parts = [x[:, :, :1]] if first else []
        if n:
            parts.append(self.time_conv(buf[:, :, : 1 + 2 * n]))
        return torch.cat(parts, dim=2)


class Upsample(nn.Module):
    """2x spatial (per frame), and for 'upsample3d' 2x in time; the clip's first frame stays one frame."""

    def __init__(self, dim: int, out_dim: int, temporal: bool):
        super().__init__()
        self.resample = nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"),
                                      nn.Conv2d(dim, out_dim, 3, padding=1))
        self.time_conv = CausalConv3d(dim, 2 * dim, (3, 1, 1), padding=(1, 0, 0)) if temporal else None

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        if self.time_conv is not None:
            cache = {} if cache is None else cache
            parts = []
            if self not in cache:
                parts, x = [x[:, :, :1]], x[:, :, 1:]
                cache[self] = x.new_empty(0)
            if x.shape[2]:
                doubled = rearrange(self.time_conv(x, cache), "b (r c) t h w -> b c (t r) h w", r=2)
                parts.append(doubled)
            x = torch.cat(parts, dim=2)
        return per_frame(self.resample, x)


def _run(layers, x: Tensor, cache: Cache | None) -> Tensor:
    for layer in layers:
        x = layer(x, cache)
    return x


class Encoder(nn.Module):
    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        dims = [cfg.base_dim * m for m in (1,) + tuple(cfg.dim_mult)]
        self.conv_in = CausalConv3d(3, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        scale = 1.0
        last = len(cfg.dim_mult) - 1
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg.num_res_blocks):
                layers.append(ResidualBlock(cin, cout))
                if scale in cfg.attn_scales:
                    layers.append(AttentionBlock(cout))
                cin = cout
            if i != last:
                layers.append(Downsample(cout, cfg.temperal_downsample[i]))
                scale /= 2.0
        self.down_blocks = nn.ModuleList(layers)
        self.mid_block = MidBlock(dims[-1])
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], 2 * cfg.z_dim, 3, padding=1)

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        x = _run(self.down_blocks, self.conv_in(x, cache), cache)
        x = self.mid_block(x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, blocks: int, mode: str | None):
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(cin if j == 0 else cout, cout) for j in range(blocks)])
        self.upsamplers = None
        if mode is not None:
            # The reference halves the width in its upsamplers; the next block starts from that half.
            self.upsamplers = nn.ModuleList([Upsample(cout, cout // 2, mode == "upsample3d")])

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        x = _run(self.resnets, x, cache)
        return x if self.upsamplers is None else self.upsamplers[0](x, cache)


class Decoder(nn.Module):
    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        mults = tuple(cfg.dim_mult)
        dims = [cfg.base_dim * m for m in (mults[-1],) + mults[::-1]]
        temporal = tuple(cfg.temperal_downsample)[::-1]
        self.conv_in = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        blocks = []
        last = len(mults) - 1
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin //= 2
            mode = None if i == last else ("upsample3d" if temporal[i] else "upsample2d")
            blocks.append(UpBlock(cin, cout, cfg.num_res_blocks + 1, mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], 3, 3, padding=1)

    def forward(self, z: Tensor, cache: Cache | None = None) -> Tensor:
        x = self.mid_block(self.conv_in(z, cache), cache)
        x = _run(self.up_blocks, x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class WanVAE(NormalisedLatents):
    """The engine's autoencoder interface over the Wan VAE: normalised latents in and out."""

    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.temporal_factor = 2 ** sum(cfg.temperal_downsample)
        self.spatial_factor = 2 ** (len(cfg.dim_mult) - 1)
        self.encoder = Encoder(cfg)
        self.quant_conv = CausalConv3d(2 * cfg.z_dim, 2 * cfg.z_dim, 1)
        self.post_quant_conv = CausalConv3d(cfg.z_dim, cfg.z_dim, 1)
        self.decoder = Decoder(cfg)
        # From config.json, not the weights file: kept out of the state dict.
        self.register_buffer("latent_mean", torch.tensor(cfg.latents_mean), persistent=False)
        self.register_buffer("latent_std", torch.tensor(cfg.latents_std), persistent=False)

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, T, H, W) in [-1, 1] -> raw mean and log-variance, encoded 1, 4, 4, ... frames at a time."""
        self.latent_frames(video.shape[2])
        cache: Cache = {}
        rest = video[:, :, 1:]
        chunks = [video[:, :, :1]] + (list(rest.split(self.temporal_factor, dim=2)) if rest.shape[2] else [])
        moments = self.quant_conv(torch.cat([self.encoder(c, cache) for c in chunks], dim=2))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_raw(self, z: Tensor, chunk: int | None = None) -> Tensor:
        """Raw latents -> (B, 3, T, H, W) in [-1, 1], streamed `chunk` (default 1) latent frames at a time."""
        chunk = chunk or 1
        x = self.post_quant_conv(z)
        cache: Cache = {}
        parts = [self.decoder(x[:, :, i:i + chunk], cache) for i in range(0, x.shape[2], chunk)]
        return torch.cat(parts, dim=2).clamp(-1.0, 1.0)
