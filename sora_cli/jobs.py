"""A job is one clip to make: a mode, a prompt, its inputs and every resolved setting.

The five modes differ only in which frames they hand the engine as conditions, and
where those given frames sit in the output:
  generate  text only                       -> [new]
  animate   an image at the start or end    -> [image, new] or [new, image]
  extend    a video, forward or backward    -> [video, new] or [new, video]
  loop      text (or a video) whose end runs into its start -> [first, new] / [video, bridge]
  v2v       a video re-sampled from noise level `strength`  -> [new]
Given frames go to the output untouched (resized only if the output size differs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from sora_cli.engine import Engine, Settings, round_down_frames
from sora_cli.frames import cover_resize, resample_indices, retime
from sora_cli.presets import model_size, preview_size
from sora_cli.specs import ModelSpec
from sora_cli.video_io import Video

MODES = ("generate", "animate", "extend", "loop", "v2v")


@dataclass(frozen=True)
class Job:
    mode: str
    prompt: str
    seed: int
    model: str
    width: int  # output size
    height: int
    fps: float
    frames: int  # output frames that the model makes (v2v: the whole clip)
    output: Path
    negative: str | None = None
    steps: int | None = None
    guidance: float | None = None
    guidance_interval: tuple[float, float] | None = None
    preview: bool = False
    image: Tensor | None = None  # (1, H, W, 3) uint8
    image_path: str | None = None
    at: str = "start"
    video: Video | None = None
    video_path: str | None = None
    backward: bool = False
    strength: float = 0.6
    overwrite: bool = False


@dataclass(frozen=True)
class Segment:
    frames: Tensor  # (T, H, W, 3) uint8, any size
    count: int  # frames it fills in the output (time-resampled when it differs)


def full_working_size(job: Job, spec: ModelSpec) -> tuple[int, int, bool]:
    """The size the model renders this job at (before a preview halves it), and whether it is native."""
    return model_size(job.width, job.height, spec.max_area, spec.size_multiple, spec.native_sizes)


def settings_for(job: Job, spec: ModelSpec) -> Settings:
    full_w, full_h, _ = full_working_size(job, spec)
    w, h = (full_w // 2, full_h // 2) if job.preview else (full_w, full_h)
    steps = job.steps or (spec.preview_steps if job.preview else spec.steps)
    return Settings(
        prompt=job.prompt,
        negative=spec.negative if job.negative is None else job.negative,
        seed=job.seed, steps=steps,
        guidance=spec.guidance if job.guidance is None else job.guidance,
        shift=spec.shift, width=w, height=h, preview=job.preview,
        sdedit_strength=job.strength if job.mode == "v2v" else 1.0,
        guidance_interval=spec.guidance_interval if job.guidance_interval is None else job.guidance_interval,
    )


def render(job: Job, engine: Engine) -> list[Segment]:
    spec = engine.model.spec
    s = settings_for(job, spec)

    def native(out_frames: int) -> int:  # model frames covering `out_frames` output frames
        return max(1, math.ceil(out_frames * spec.fps / job.fps)) if out_frames > 0 else 0

    def working(frames: Tensor, fps: float) -> Tensor:
        return cover_resize(retime(frames, fps, spec.fps), s.width, s.height)

    if job.mode == "generate":
        return [Segment(engine.chain(s, native(job.frames)), job.frames)]
    if job.mode == "animate":
        image = cover_resize(job.image, s.width, s.height)
        rest = job.frames - 1
        if job.at == "end":
            return [Segment(engine.chain_backward(s, native(rest), image), rest), Segment(job.image, 1)]
        return [Segment(job.image, 1), Segment(engine.chain(s, native(rest), start=image), rest)]
    if job.mode == "extend":
        src = job.video
        given = Segment(src.frames, round(src.frames.shape[0] * job.fps / src.fps))
        context = working(src.frames, src.fps)
        if job.backward:
            return [Segment(engine.chain_backward(s, native(job.frames), context), job.frames), given]
        return [given, Segment(engine.chain(s, native(job.frames), start=context), job.frames)]
    if job.mode == "loop":
        if job.video is None:
            first = engine.window(s, 1, [])  # a text-to-image frame to start and end on
            rest = job.frames - 1
            return [Segment(first, 1), Segment(engine.chain(s, native(rest), start=first, end=first), rest)]
        src = job.video
        context = working(src.frames, src.fps)
        head = context[: round_down_frames(min(spec.context_frames, context.shape[0]), engine.tf)]
        given = Segment(src.frames, round(src.frames.shape[0] * job.fps / src.fps))
        return [given, Segment(engine.chain(s, native(job.frames), start=context, end=head), job.frames)]
    if job.mode == "v2v":
        context = working(job.video.frames, job.video.fps)
        return [Segment(engine.chain(s, context.shape[0], source=context), job.frames)]
    raise ValueError(f"unknown mode {job.mode}")


def output_frames(segments: list[Segment], width: int, height: int, chunk: int = 8):
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


def output_size(job: Job) -> tuple[int, int]:
    return preview_size(job.width, job.height) if job.preview else (job.width, job.height)


def total_frames(segments: list[Segment]) -> int:
    return sum(seg.count for seg in segments)
