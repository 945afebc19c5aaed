"""Flow-matching sampling: a shifted time schedule, Euler steps, classifier-free guidance.

Convention: x_t = (1 - t) * x_0 + t * noise, so t = 1 is pure noise and the model
predicts the velocity v = noise - x_0. Every latent frame has its own time,
t_frame = t * (1 - strength): a given frame at strength 1 sits at t = 0 and never
moves; at strength 0 it is sampled like the rest. SDEdit (v2v) starts the whole
schedule below 1 from a noised input. One loop serves every mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from sora_cli.errors import GenerationFailed

# velocity(x (B, C, T, H, W), t (B, T)) -> (B, C, T, H, W)
Velocity = Callable[[Tensor, Tensor], Tensor]
StepCallback = Callable[[int, int], None]


def shift_time(u: Tensor, shift: float) -> Tensor:
    """Spend more steps at high noise, as SD3/Wan do for large token counts."""
    return shift * u / (1 + (shift - 1) * u)


def unshift_time(t: float, shift: float) -> float:
    return t / (shift - (shift - 1) * t)


def schedule(steps: int, shift: float, start: float = 1.0) -> Tensor:
    """Times from `start` down to 0. Starting below 1 runs the matching tail of a full schedule."""
    u0 = unshift_time(start, shift)
    n = max(1, math.ceil(steps * u0 - 1e-9))
    u = torch.linspace(u0, 0.0, n + 1, dtype=torch.float64)
    return shift_time(u, shift).float()


def sample(velocity: Velocity, noise: Tensor, init: Tensor, strength: Tensor, times: Tensor,
           on_step: StepCallback | None = None) -> Tensor:
    """Integrate from times[0] to 0. strength (T,) holds each latent frame's conditioning."""
    keep = (1 - strength).to(noise)  # (T,)
    frame = keep.view(1, 1, -1, 1, 1)
    t0 = times[0] * frame
    x = (1 - t0) * init + t0 * noise
    steps = len(times) - 1
    for i in range(steps):
        t = (times[i] * keep).expand(x.shape[0], -1)  # (B, T)
        v = velocity(x, t)
        x = x + v * ((times[i + 1] - times[i]) * frame)
        if not torch.isfinite(x).all():
            raise GenerationFailed(f"sampling produced NaN/Inf values at step {i + 1} of {steps} "
                                   "(try --dtype float32 or other weights)")
        if on_step is not None:
            on_step(i + 1, steps)
    return x


def guided(model: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor],
           cond: tuple[Tensor, Tensor], uncond: tuple[Tensor, Tensor], scale: float,
           interval: tuple[float, float] = (0.0, 1.0)) -> Velocity:
    """Classifier-free guidance: v = v_u + scale * (v_c - v_u), both passes in one batch.

    Only while the window's time (its noisiest frame's) lies in `interval`; elsewhere one
    conditional pass, which also halves that step's work.
    """
    if scale == 1.0:
        return lambda x, t: model(x, t, *cond)
    ctx, mask = _stack_contexts(cond, uncond)
    lo, hi = interval
    always = lo <= 0.0 and hi >= 1.0  # skips reading t back, a device sync each step

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        if not always and not lo <= float(t.max()) <= hi:
            return model(x, t, *cond)
        v_c, v_u = model(torch.cat([x, x]), torch.cat([t, t]), ctx, mask).chunk(2)
        return v_u + scale * (v_c - v_u)

    return velocity


def _stack_contexts(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    length = max(a[0].shape[1], b[0].shape[1])
    ctxs, masks = [], []
    for ctx, mask in (a, b):
        pad = length - ctx.shape[1]
        ctxs.append(torch.nn.functional.pad(ctx, (0, 0, 0, pad)))
        masks.append(torch.nn.functional.pad(mask, (0, pad), value=False))
    return torch.cat(ctxs), torch.cat(masks)
