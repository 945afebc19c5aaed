"""The engine: one sampler window, and chains of windows for any length.

A window is text + conditions (+ an SDEdit init) -> frames. A chain runs windows one
after another, each conditioned on the last frames of the one before (or, backwards,
the first frames of the one after), so clips far longer than the model's window work.
Everything here works at the model's working size and frame rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sora_cli.conditioning import Condition, place
from sora_cli.frames import (
    resample_indices,
    round_down_frames,
    round_up_frames,
    to_model,
    to_uint8,
)
from sora_cli.models.interface import LoadedModel
from sora_cli.noise import draw as draw_noise
from sora_cli.sampler import guided, sample, schedule
from sora_cli.seams import fade_in_joins

# (window index, windows planned so far, step, steps)
Progress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Settings:
    prompt: str
    negative: str
    seed: int
    steps: int
    guidance: float
    shift: float
    width: int  # working size
    height: int
    preview: bool = False  # draw noise at twice the size and pool it, so previews share composition
    # Time t at which sampling starts: 1 is pure noise; v2v starts lower, from its noised source (SDEdit).
    start_time: float = 1.0
    guidance_interval: tuple[float, float] = (0.0, 1.0)  # times t at which guidance applies
    guidance_focus: float = 0.0  # guidance only where the prompt pulls hardest (sampler.focus_mask)
    cut: bool = False  # the first window cuts away from the frames it starts from: context, not continued


@dataclass(frozen=True)
class Drawn:
    """Frames a chain made, and the raw latents they were decoded from (one a frame; None where a latent frame
    spans several, as a causal VAE's do): what a next chain continues without encoding the frames again."""

    frames: Tensor  # uint8 (T, H, W, 3)
    latents: Tensor | None  # raw (1, C, T, h, w), Condition.latents


def window_seed(seed: int, window: int) -> int:
    return (seed * 0x9E3779B1 + window * 0x85EBCA77) % (2**63)


class Engine:
    def __init__(self, model: LoadedModel, progress: Progress | None = None):
        self.model = model
        self.progress = progress
        self._text: dict[tuple[str, str], tuple] = {}

    @property
    def tf(self) -> int:
        return self.model.spec.vae.temporal_factor

    def _contexts(self, s: Settings) -> tuple[tuple, tuple]:
        key = (s.prompt, s.negative)
        if key not in self._text:
            ctx, mask, _ = self.model.encode_text([s.prompt, s.negative])
            self._text[key] = ((ctx[:1], mask[:1]), (ctx[1:], mask[1:]))
        return self._text[key]

    def _noise(self, s: Settings, shape: tuple[int, ...], index: int) -> Tensor:
        """Noise for a window. A preview pools the full render's noise 2x2, so both share it."""
        gen = torch.Generator().manual_seed(window_seed(s.seed, index))
        return draw_noise(shape, self.model.spec.noise, gen, pool=self.model.spec.vae.noise_pool(s.preview))

    def window(self, s: Settings, frames: int, conditions: list[Condition], index: int = 0,
               source: Tensor | None = None) -> Tensor:
        """Sample one window of `frames` (1 + k*tf) frames -> uint8 (T, H, W, 3)."""
        return self._window(s, frames, conditions, index, source)[0]

    @torch.no_grad()
    def _window(self, s: Settings, frames: int, conditions: list[Condition], index: int,
                source: Tensor | None) -> tuple[Tensor, Tensor]:
        """One window -> its frames, uint8 (T, H, W, 3), and the latents they were drawn from."""
        m = self.model
        latent_t = m.net.vae.latent_frames(frames)
        shape = (1, m.spec.vae.latent_channels, latent_t, *m.spec.vae.latent_hw(s.height, s.width))
        noise = self._noise(s, shape, index).to(m.device, m.dtype)
        if source is not None:
            init = m.net.vae.encode(to_model(source).to(m.device, m.dtype).permute(1, 0, 2, 3).unsqueeze(0))
            start = s.start_time
        else:
            init, start = torch.zeros_like(noise), 1.0
        init, strength, joined = place(conditions, m.net.vae, init)
        cond, uncond = self._contexts(s)
        velocity = guided(m.net.dit, cond, uncond, s.guidance, s.guidance_interval, s.guidance_focus,
                          m.spec.token_cells)
        on_step = (lambda i, n: self.progress(index, i, n)) if self.progress else None

        def expected() -> Tensor:
            # The prompt's clip as the DiT predicts it from pure noise (t = 1, so x0 = x - v), which orders the given
            # frames' parts (objects) as the prompt does.
            return (noise - velocity(noise, torch.ones(noise.shape[0], noise.shape[2]).to(noise))).float()

        with torch.autocast(m.device.type, dtype=m.autocast or torch.bfloat16, enabled=m.autocast is not None):
            # A v2v source is encoded frames throughout, in the encoder's order of objects as much as given frames are.
            held = strength if source is None else torch.ones_like(strength)
            init = m.net.vae.order_given(init, held, expected)
            latents = sample(velocity, noise, init, strength, schedule(s.steps, s.shift, start), on_step)
        latents = m.net.vae.settle(latents, strength, joined)
        video = m.net.vae.decode(latents, size=(s.height, s.width))[0].permute(1, 0, 2, 3).float().cpu()  # (T, 3, H, W)
        return to_uint8(fade_in_joins(video, conditions, m.spec.context_frames)), latents

    def chain(self, s: Settings, count: int, start: Tensor | None = None, end: Tensor | None = None,
              source: Tensor | None = None, start_latents: Tensor | None = None) -> Drawn:
        """`count` new frames after `start` (and, if given, flowing into `end`), uint8 (T, H, W, 3).

        `source` (uint8, at least `count` frames) makes every window an SDEdit of the
        matching source frames: that is v2v. `start_latents`: the raw latents `start` was drawn from, one a frame,
        when this model drew it (a storyboard's shot before), given instead of encoding its frames again.
        """
        spec = self.model.spec
        window, ctx_len = spec.window_frames, spec.context_frames
        made: list[Tensor] = []
        drawn: list[Tensor | None] = []  # the latents each part of `made` was drawn from (see _drawn)
        given = [] if start is None else [_per_frame(start_latents, start)]  # what `start` was drawn from
        remaining, index = count, 0
        while remaining > 0:
            ctx = self._tail(start, made, ctx_len)
            c = 0 if ctx is None else ctx.shape[0]
            e = 0 if end is None else end.shape[0]
            bridge = end is not None and c + remaining + e <= window
            if bridge:
                take = remaining
            elif end is not None:  # leave room for a final window that lands on `end`
                take = min(window - c, remaining - 4)
            else:
                take = min(window - c, remaining)
            length = round_up_frames(c + take + (e if bridge else 0), self.tf)
            conds = [] if ctx is None else [Condition(to_model(ctx), 0, joined=not (s.cut and index == 0),
                                                      latents=_drawn((given + drawn)[::-1], c, last=True))]
            if bridge:
                conds.append(Condition(to_model(end), -(1 + (e - 1) // self.tf)))
            pos = count - remaining  # first new frame's place in the source's timeline
            src = None if source is None else _pad_to(source[pos - c:], length)
            out, latents = self._window(s, length, conds, index, src)
            stop = length - (e if bridge else 0)
            new, new_z = out[c:stop], self._frames_of(latents, c, stop)
            if bridge and new.shape[0] != take:  # rounding made a few more frames: keep the pace even
                keep = resample_indices(new.shape[0], take)
                new, new_z = new[keep], None if new_z is None else new_z[:, :, keep]
            made.append(new[:take])
            drawn.append(None if new_z is None else new_z[:, :, :take])
            remaining -= take
            index += 1
        if not made:
            return Drawn(torch.zeros(0, s.height, s.width, 3, dtype=torch.uint8), None)
        return Drawn(torch.cat(made), _joined(drawn))

    def chain_backward(self, s: Settings, count: int, end: Tensor, end_latents: Tensor | None = None) -> Drawn:
        """`count` new frames that lead into `end` (the given frames come last); `end_latents` as chain's
        `start_latents`."""
        spec = self.model.spec
        made: list[Tensor] = []
        drawn: list[Tensor | None] = []
        given = [_per_frame(end_latents, end)]  # what `end` was drawn from
        remaining, index = count, 0
        while remaining > 0:
            after = torch.cat(made[::-1] + [end]) if made else end
            ctx = after[: min(spec.context_frames, round_down_frames(after.shape[0], self.tf))]
            c = ctx.shape[0]
            take = min(spec.window_frames - c, remaining)
            length = round_up_frames(c + take, self.tf)
            cond = Condition(to_model(ctx), -(1 + (c - 1) // self.tf), latents=_drawn(drawn[::-1] + given, c,
                                                                                     last=False))
            out, latents = self._window(s, length, [cond], index, None)
            made.append(out[length - c - take: length - c])
            drawn.append(self._frames_of(latents, length - c - take, length - c))
            remaining -= take
            index += 1
        return Drawn(torch.cat(made[::-1]), _joined(drawn[::-1]))

    def _frames_of(self, latents: Tensor, start: int, stop: int) -> Tensor | None:
        """The raw latents of frames start:stop (Condition.latents), where a latent frame is one frame (else None:
        a causal VAE's latents of a span are not a slice of the whole's)."""
        return self.model.net.vae.denormalise(latents[:, :, start:stop]) if self.tf == 1 else None

    def _tail(self, start: Tensor | None, made: list[Tensor], ctx_len: int) -> Tensor | None:
        parts = ([start] if start is not None else []) + made
        if not parts:
            return None
        frames = torch.cat(parts)
        return frames[-min(ctx_len, round_down_frames(frames.shape[0], self.tf)):]


def _drawn(parts: list[Tensor | None], count: int, last: bool) -> Tensor | None:
    """The raw latents of the last (or first) `count` frames of the made parts, given from the nearest part on, when
    every frame they span was made by this chain; None when a given frame or a part without latents is among them.

    A chain's context is frames it drew itself: handing the next window their latents instead of encoding the
    decoded frames again spares a round trip per window, whose misreadings add up over a long chain (a 60 s
    clip lost its object's colour: docs/sora-mini-bakeoff.md, round twelve)."""
    found, have = [], 0
    for z in parts:
        if z is None or have >= count:
            break
        found.append(z)
        have += z.shape[2]
    if have < count:
        return None
    whole = torch.cat(found[::-1] if last else found, dim=2)
    return whole[:, :, -count:] if last else whole[:, :, :count]


def _per_frame(latents: Tensor | None, frames: Tensor) -> Tensor | None:
    """Given latents, when there is one for each of the frames (else the frames are encoded)."""
    return latents if latents is not None and latents.shape[2] == frames.shape[0] else None


def _joined(parts: list[Tensor | None]) -> Tensor | None:
    return torch.cat(parts, dim=2) if parts and all(z is not None for z in parts) else None


def _pad_to(frames: Tensor, length: int) -> Tensor:
    if frames.shape[0] >= length:
        return frames[:length]
    return torch.cat([frames, frames[-1:].expand(length - frames.shape[0], -1, -1, -1)])
