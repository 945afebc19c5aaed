"""Seamless joins between given frames and the frames a window makes next to them.

The window's new frames continue from the autoencoder's reconstruction of the given
frames, not from the given frames themselves, and the output shows the given frames
untouched: whatever the reconstruction got wrong (a colour shift, a blurred edge) would
jump at the join. So the reconstruction's error at the join is added to the new frames
beside it and faded out over `ramp` frames: a dissolve from the given frame into the
model's continuation, which leaves no jump and no lasting change.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sora_cli.conditioning import Condition


def fade_in_joins(video: Tensor, conditions: list[Condition], ramp: int) -> Tensor:
    """video: a decoded window (T, 3, H, W) in [-1, 1] whose conditions sit at its start
    (latent index 0) or end (negative index). Returns a copy with the joins faded."""
    video = video.clone()
    total = video.shape[0]
    weights = 1.0 - torch.arange(ramp, dtype=video.dtype) / ramp  # (ramp,): 1 at the join, falling to 1/ramp
    for cond in conditions:
        if not cond.continued:  # not shown as given, or cut away from: nothing to join
            continue
        given = cond.frames.to(video)
        n = given.shape[0]
        if cond.latent_index == 0 and n < total:
            error = given[-1] - video[n - 1]
            span = video[n: n + ramp]
            span += error * weights[: span.shape[0]].view(-1, 1, 1, 1)
        elif cond.latent_index < 0 and n < total:
            error = given[0] - video[total - n]
            span = video[max(0, total - n - ramp): total - n]
            span += error * weights[: span.shape[0]].flip(0).view(-1, 1, 1, 1)
    return video.clamp(-1.0, 1.0)
