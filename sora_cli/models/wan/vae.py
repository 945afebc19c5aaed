"""The Wan causal video VAEs, parameter for parameter: Wan2.1's (4x temporal, 8x8 spatial,
16 channels) and Wan2.2's (4x16x16, 48 channels: residual blocks with reshaping shortcuts
and a 2x2 space-to-depth of the pixels around the whole network).

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
        front = self.past  # zero frames before the clip's start, padded in the same pass as the spatial ones
        if self.past:
            if cache is not None and self in cache:
                x = torch.cat([cache[self], x], dim=2)
                front = self.past - cache[self].shape[2]
            if cache is not None:
                # Only the real frames, copied (a view would keep the whole chunk alive): padding a
                # short clip's cache with zeros held up to twice the reference's memory in the
                # next chunk.
                cache[self] = x[:, :, -self.past:].clone()
        # Rebound, so the cache-and-chunk concatenation is freed before the conv: passed inline, it
        # stayed alive through the conv's weight reorder, the decode's peak (0.56 MB over the reference's).
        x = F.pad(x, self.spatial + (max(front, 0), 0))
        return super().forward(x)


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
        cache[self] = buf[:, :, 2 * n:].clone()
        parts = [x[:, :, :1]] if first else []
        if n:
            parts.append(self.time_conv(buf[:, :, : 1 + 2 * n]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


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
            x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)  # no copy of a lone part
        return per_frame(self.resample, x)


def space_time_to_depth(x: Tensor, out_dim: int, ft: int, fs: int) -> Tensor:
    """Wan2.2's downsampling shortcut: (t, h, w) blocks of ft x fs x fs into channels, averaged in
    groups down to out_dim. A clip whose length is not a multiple of ft is padded with zeros in
    front (so an image, one frame, becomes one half-weighted frame, as the reference does)."""
    pad = (-x.shape[2]) % ft
    x = F.pad(x, (0, 0, 0, 0, pad, 0))
    x = rearrange(x, "b c (t ft) (h fh) (w fw) -> b (c ft fh fw) t h w", ft=ft, fh=fs, fw=fs)
    return rearrange(x, "b (c g) t h w -> b c g t h w", c=out_dim).mean(dim=2)


def depth_to_space_time(x: Tensor, out_dim: int, ft: int, fs: int, first: bool) -> Tensor:
    """Wan2.2's upsampling shortcut: channels repeated and unfolded into ft x fs x fs blocks. On
    the clip's first chunk the first ft - 1 frames are dropped, as the main path's temporal
    upsampling keeps the first frame single."""
    repeats = out_dim * ft * fs * fs // x.shape[1]
    x = rearrange(x.repeat_interleave(repeats, dim=1), "b (c ft fh fw) t h w -> b c (t ft) (h fh) (w fw)",
                  ft=ft, fh=fs, fw=fs)
    return x[:, :, ft - 1:] if first else x


class ResidualDownBlock(nn.Module):
    """Wan2.2's encoder stage: residual blocks, then a downsample, plus a reshaping shortcut."""

    def __init__(self, cin: int, cout: int, blocks: int, temporal: bool, down: bool):
        super().__init__()
        self.out_dim, self.ft, self.fs = cout, 2 if temporal else 1, 2 if down else 1
        self.resnets = nn.ModuleList([ResidualBlock(cin if j == 0 else cout, cout) for j in range(blocks)])
        self.downsampler = Downsample(cout, temporal) if down else None

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        shortcut = space_time_to_depth(x, self.out_dim, self.ft, self.fs)
        x = _run(self.resnets, x, cache)
        if self.downsampler is not None:
            x = self.downsampler(x, cache)
        return x + shortcut


class ResidualUpBlock(nn.Module):
    """Wan2.2's decoder stage: blocks + 1 residual blocks, an upsample, and a reshaping shortcut."""

    def __init__(self, cin: int, cout: int, blocks: int, temporal: bool, up: bool):
        super().__init__()
        self.out_dim, self.ft, self.up = cout, 2 if temporal else 1, up
        self.resnets = nn.ModuleList([ResidualBlock(cin if j == 0 else cout, cout) for j in range(blocks + 1)])
        self.upsampler = Upsample(cout, cout, temporal) if up else None

    def forward(self, x: Tensor, cache: Cache | None = None) -> Tensor:
        cache = {} if cache is None else cache
        first = self not in cache
        cache[self] = x.new_empty(0)  # only marks that the clip's first chunk has passed
        h = _run(self.resnets, x, cache)
        if self.upsampler is None:
            return h
        # The shortcut is made last: made first, its upsampled size stayed alive through the
        # block (25 MB more than the reference at the peak of a small decode).
        return self.upsampler(h, cache) + depth_to_space_time(x, self.out_dim, self.ft, 2, first)


def _run(layers, x: Tensor, cache: Cache | None) -> Tensor:
    for layer in layers:
        x = layer(x, cache)
    return x


class Encoder(nn.Module):
    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        dims = [cfg.base_dim * m for m in (1,) + tuple(cfg.dim_mult)]
        self.conv_in = CausalConv3d(cfg.in_channels, dims[0], 3, padding=1)
        layers: list[nn.Module] = []
        scale = 1.0
        last = len(cfg.dim_mult) - 1
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if cfg.is_residual:
                temporal = cfg.temperal_downsample[i] if i != last else False
                layers.append(ResidualDownBlock(cin, cout, cfg.num_res_blocks, temporal, down=i != last))
                continue
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
        base = cfg.decoder_base_dim or cfg.base_dim
        dims = [base * m for m in (mults[-1],) + mults[::-1]]
        temporal = tuple(cfg.temperal_downsample)[::-1]
        self.conv_in = CausalConv3d(cfg.z_dim, dims[0], 3, padding=1)
        self.mid_block = MidBlock(dims[0])
        blocks = []
        last = len(mults) - 1
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if cfg.is_residual:
                blocks.append(ResidualUpBlock(cin, cout, cfg.num_res_blocks, i != last and temporal[i], up=i != last))
                continue
            if i > 0:
                cin //= 2
            mode = None if i == last else ("upsample3d" if temporal[i] else "upsample2d")
            blocks.append(UpBlock(cin, cout, cfg.num_res_blocks + 1, mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], cfg.out_channels, 3, padding=1)

    def forward(self, z: Tensor, cache: Cache | None = None) -> Tensor:
        x = self.mid_block(self.conv_in(z, cache), cache)
        x = _run(self.up_blocks, x, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class WanVAE(NormalisedLatents):
    """The engine's autoencoder interface over the Wan VAE: normalised latents in and out."""

    def __init__(self, cfg: WanVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.patch = cfg.patch_size or 1
        self.temporal_factor = 2 ** sum(cfg.temperal_downsample)
        self.spatial_factor = 2 ** (len(cfg.dim_mult) - 1) * self.patch
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
        # Wan2.2 folds each 2x2 block of pixels into channels first (channel order c, x, y).
        video = rearrange(video, "b c t (h ph) (w pw) -> b (c pw ph) t h w", ph=self.patch, pw=self.patch)
        cache: Cache = {}
        rest = video[:, :, 1:]
        chunks = [video[:, :, :1]] + (list(rest.split(self.temporal_factor, dim=2)) if rest.shape[2] else [])
        moments = self.quant_conv(torch.cat([self.encoder(c, cache) for c in chunks], dim=2))
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """Raw latents -> (B, 3, T, H, W) in [-1, 1], streamed `chunk` (default 1) latent frames at a time."""
        chunk = chunk or 1
        x = self.post_quant_conv(z)
        cache: Cache = {}
        parts = [self.decoder(x[:, :, i:i + chunk], cache) for i in range(0, x.shape[2], chunk)]
        video = rearrange(torch.cat(parts, dim=2), "b (c pw ph) t h w -> b c t (h ph) (w pw)",
                          ph=self.patch, pw=self.patch)
        return video.clamp(-1.0, 1.0)
