"""The networks' hyper-parameters, read from the repository's own config.json files.

Frozen dataclasses of exactly the keys our implementations use; keys that would change
the architecture into something we do not implement (a CLIP image encoder's inputs, added
key/value projections) are refused, everything else in the file (_class_name, versions) is ignored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WanDiTConfig:
    patch_size: tuple[int, int, int] = (1, 2, 2)
    num_attention_heads: int = 12
    attention_head_dim: int = 128
    in_channels: int = 16
    out_channels: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    ffn_dim: int = 8960
    num_layers: int = 30
    cross_attn_norm: bool = True
    qk_norm: str | None = "rms_norm_across_heads"
    eps: float = 1e-6
    rope_max_seq_len: int = 1024

    @property
    def dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim


@dataclass(frozen=True)
class WanVAEConfig:
    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_scales: tuple[float, ...] = ()
    temperal_downsample: tuple[bool, ...] = (False, True, True)
    latents_mean: tuple[float, ...] = (0.0,) * 16
    latents_std: tuple[float, ...] = (1.0,) * 16
    # Wan2.2's VAE: residual down and up blocks whose shortcuts are parameter-free reshapes
    # (averaged space/time-to-depth and its inverse), a wider decoder, and a 2x2 space-to-depth
    # of the pixels before the encoder (so 16x16 spatial compression in all).
    is_residual: bool = False
    decoder_base_dim: int | None = None
    patch_size: int | None = None
    in_channels: int = 3
    out_channels: int = 3

    def __post_init__(self) -> None:
        cells = 3 * (self.patch_size or 1) ** 2
        if (self.in_channels, self.out_channels) != (cells, cells):
            raise ValueError(f"in_channels and out_channels must be {cells} for patch_size {self.patch_size}")


@dataclass(frozen=True)
class UMT5Config:
    vocab_size: int = 256384
    d_model: int = 4096
    d_kv: int = 64
    d_ff: int = 10240
    num_layers: int = 24
    num_heads: int = 64
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6


# Keys whose non-default values mean a model we do not implement.
UNSUPPORTED = {
    "transformer": {"image_dim": None, "added_kv_proj_dim": None, "pos_embed_seq_len": None},
    "text_encoder": {"feed_forward_proj": "gated-gelu"},
}


def read_config(cls: type, path: Path, part: str):
    """config.json -> the frozen dataclass `cls`; ValueError names what does not fit."""
    data = json.loads(path.read_text())
    for key, supported in UNSUPPORTED.get(part, {}).items():
        if key in data and data[key] != supported:
            raise ValueError(f"{path}: {key}={data[key]!r} is not supported (only {supported!r})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key in fields:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
