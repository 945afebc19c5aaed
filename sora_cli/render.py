"""Render a plan: the engine makes the new frames; given frames are placed around them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import Tensor

from sora_cli.engine import Engine
from sora_cli.frames import cover_resize, resample_indices, round_down_frames
from sora_cli.plan import ClipPlan, Given


@dataclass(frozen=True)
class Segment:
    frames: Tensor  # (T, H, W, 3) uint8, any size
    count: int  # frames it fills in the output (time-resampled when it differs)
    latents: Tensor | None = None  # raw latents of its frames, one a frame, when the engine drew them (Drawn)


def render(plan: ClipPlan, engine: Engine) -> list[Segment]:
    s = plan.settings
    before = plan.before
    if plan.loop and before is None:  # a text-to-image frame to start and end on
        first = engine.window(s, 1, [])
        before = Given(first, 1, first)
    if plan.after is not None:
        new = engine.chain_backward(s, plan.new_frames, plan.after.working, plan.after.latents)
    else:
        start = None if before is None else before.working
        end = None
        if plan.loop:  # the new part lands on the clip's first frames
            end = start[: round_down_frames(min(engine.model.spec.context_frames, start.shape[0]), engine.tf)]
        new = engine.chain(s, plan.new_frames, start=start, end=end, source=plan.source,
                           start_latents=None if before is None else before.latents)
    segments = [Segment(new.frames, plan.new_count, new.latents)]
    if before is not None:
        segments.insert(0, Segment(before.frames, before.count))
    if plan.after is not None:
        segments.append(Segment(plan.after.frames, plan.after.count))
    return segments


def output_frames(segments: list[Segment], width: int, height: int,
                  chunk: int = 8) -> tuple[Iterator[Tensor], int, int]:
    """(frames, frame width, frame height): every output frame in order, uint8 (H, W, 3).

    When every segment has one size, frames stay at that size and the encoder scales
    them (much faster than resizing here); otherwise they are resized to the output.
    """
    sizes = {(seg.frames.shape[2], seg.frames.shape[1]) for seg in segments}
    w, h = sizes.pop() if len(sizes) == 1 else (width, height)

    def frames():
        for seg in segments:
            idx = resample_indices(seg.frames.shape[0], seg.count)
            for i in range(0, len(idx), chunk):
                yield from cover_resize(seg.frames[idx[i:i + chunk]], w, h)

    return frames(), w, h


def total_frames(segments: list[Segment]) -> int:
    return sum(seg.count for seg in segments)
