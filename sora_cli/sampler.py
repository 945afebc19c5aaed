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
import torch.nn.functional as F
from einops import rearrange
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
           interval: tuple[float, float] = (0.0, 1.0), focus: float = 0.0,
           token: tuple[int, int] = (1, 1)) -> Velocity:
    """Classifier-free guidance: v = v_u + scale * (v_c - v_u), both passes in one batch.

    Only while the window's time (its noisiest frame's) lies in `interval`; elsewhere one
    conditional pass, which also halves that step's work. With `focus` > 0, only at the tokens
    (`token` latent cells each) where the prompt pulls hardest in their frame (focus_mask); the
    others take the conditional velocity.
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
        pull = v_c - v_u
        if focus > 0.0:
            return v_c + (scale - 1) * focus_mask(pull, focus, token).to(pull) * pull
        return v_u + scale * pull

    return velocity


def focus_mask(pull: Tensor, focus: float, token: tuple[int, int]) -> Tensor:
    """1 at the tokens whose pull (mean square of v_c - v_u) is at least `focus` times their frame's largest.

    pull (B, C, T, H, W) -> (B, 1, T, H, W). Guidance pushes every token that leans toward the prompt's
    object into it, and a DiT that decides token by token then draws one object as many patches; kept
    to where the prompt pulls hardest, it draws the object where the model is surest of it and leaves
    the rest to the conditional model (docs/sora-mini-bakeoff.md, seventh round).
    """
    b, _, t, h, w = pull.shape
    strength = rearrange(pull.float().square().mean(1), "b t h w -> (b t) 1 h w")
    strength = F.avg_pool2d(strength, token, ceil_mode=True)  # (B T, 1, h', w'): one value a token
    keep = (strength >= focus * strength.amax(dim=(2, 3), keepdim=True)).float()
    keep = keep.repeat_interleave(token[0], 2).repeat_interleave(token[1], 3)[..., :h, :w]
    return rearrange(keep, "(b t) 1 h w -> b 1 t h w", b=b)


def _stack_contexts(a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    length = max(a[0].shape[1], b[0].shape[1])
    ctxs, masks = [], []
    for ctx, mask in (a, b):
        pad = length - ctx.shape[1]
        ctxs.append(F.pad(ctx, (0, 0, 0, pad)))
        masks.append(F.pad(mask, (0, pad), value=False))
    return torch.cat(ctxs), torch.cat(masks)
