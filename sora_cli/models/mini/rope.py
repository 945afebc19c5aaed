"""3D rotary position embedding over (time, height, width) token grids.

Positions are integer grid coordinates, so the same model runs at any aspect ratio,
size and length: nothing is tied to a fixed grid.
"""

from __future__ import annotations

import torch
from torch import Tensor


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split a head's channels between t, h and w (each even), as Wan does."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def rope_3d(grid: tuple[int, int, int], head_dim: int, theta: float,
            device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """cos and sin of shape (t*h*w, head_dim/2) for a (t, h, w) token grid."""
    angles = []
    for size, dim, axis in zip(grid, axis_dims(head_dim), range(3)):
        freqs = theta ** (-torch.arange(0, dim, 2, device=device, dtype=torch.float64) / dim)
        pos = torch.arange(size, device=device, dtype=torch.float64)
        ang = torch.outer(pos, freqs)  # (size, dim/2)
        shape = [1, 1, 1, dim // 2]
        shape[axis] = size
        angles.append(ang.view(shape).expand(*grid, dim // 2))
    full = torch.cat(angles, dim=-1).reshape(-1, head_dim // 2)
    return full.cos().float(), full.sin().float()
