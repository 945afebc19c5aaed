"""Frame tensors: conversions, resizing and time resampling shared by every mode.

Convention: uint8 frames are (T, H, W, 3) as video files store them; model-side
frames are float (T, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def to_model(frames: Tensor) -> Tensor:
    return rearrange(frames, "t h w c -> t c h w").float() / 127.5 - 1.0


def to_uint8(frames: Tensor) -> Tensor:
    return ((rearrange(frames.float(), "t c h w -> t h w c") + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def cover_geometry(w: int, h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Scale w x h to cover width x height without stretching -> (new_w, new_h, left, top) of the crop."""
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    return new_w, new_h, (new_w - width) // 2, (new_h - height) // 2


def cover_resize(frames: Tensor, width: int, height: int) -> Tensor:
    """Resize (T, H, W, 3) uint8 to cover width x height, then centre-crop: no stretching."""
    _, h, w, _ = frames.shape
    if (w, h) == (width, height):
        return frames
    new_w, new_h, left, top = cover_geometry(w, h, width, height)
    x = rearrange(frames, "t h w c -> t c h w").float()
    x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False)
    x = x[:, :, top:top + height, left:left + width]
    return rearrange(x.round().clamp(0, 255).to(torch.uint8), "t c h w -> t h w c")


def resample_indices(src: int, dst: int) -> list[int]:
    """Nearest-in-time source frame for each of `dst` frames spanning the same duration."""
    return [min(src - 1, math.floor((k + 0.5) * src / dst)) for k in range(dst)]


def retime_indices(count: int, src_fps: float, dst_fps: float) -> list[int]:
    """Which of `count` frames at src_fps show the same duration at dst_fps (nearest frame)."""
    return resample_indices(count, max(1, round(count * dst_fps / src_fps)))


def round_up_frames(n: int, factor: int) -> int:
    """Smallest 1 + k*factor >= n: the frame counts a causal VAE takes."""
    return 1 + factor * max(0, math.ceil((n - 1) / factor))


def round_down_frames(n: int, factor: int) -> int:
    """Largest 1 + k*factor <= n."""
    return 1 + factor * ((n - 1) // factor)
