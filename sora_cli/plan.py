"""From a job and the model that will render it to one plan: everything decided, in one place.

The plan holds the sampler settings, the working and output sizes, whether the size is
one the model was trained at, the words the model does not know (and the warnings they
make), and what the engine is given: frames before the new part, frames after it, a
source to re-sample (v2v), and whether the clip must loop. `sora generate`, `sora batch`
and evaluation all render a plan made here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from sora_cli.engine import Settings
from sora_cli.frames import cover_resize, retime_indices
from sora_cli.jobs import Job
from sora_cli.models.interface import LoadedModel
from sora_cli.presets import model_size
from sora_cli.preview import preview_output_size, preview_working_size
from sora_cli.specs import ModelSpec


@dataclass(frozen=True)
class Given:
    """Frames the output shows as they are, and the same frames as the model sees them."""

    frames: Tensor  # (T, H, W, 3) uint8 at their own size and rate
    count: int  # output frames they fill (time-resampled when it differs)
    working: Tensor  # (T', h, w, 3) uint8 at the model's working size and frame rate
    latents: Tensor | None = None  # the raw latents of `working`'s frames, when the model drew them (Video.latents)


@dataclass(frozen=True)
class ClipPlan:
    job: Job
    model_name: str  # the spec's name, as metadata records it
    settings: Settings  # what the sampler runs, at the working size
    output_size: tuple[int, int]  # the file's pixel size (a preview's is smaller)
    full_size: tuple[int, int]  # the model's working size for a full render
    native: bool  # the model was trained at this size
    unknown_words: tuple[str, ...]
    warnings: tuple[str, ...]
    new_frames: int  # frames the model makes at its own rate
    new_count: int  # output frames those fill
    before: Given | None = None  # shown before the new part; its last frames start it
    after: Given | None = None  # shown after the new part; the new part leads into it
    source: Tensor | None = None  # v2v: working frames the new part re-samples
    loop: bool = False  # the new part runs back into the clip's first frames


def plan_clip(job: Job, model: LoadedModel) -> ClipPlan:
    spec = model.spec
    full_w, full_h, native = model_size(job.width, job.height, spec.max_area, spec.size_multiple, spec.native_sizes)
    w, h = preview_working_size(full_w, full_h) if job.preview else (full_w, full_h)
    settings = Settings(
        prompt=job.prompt,
        negative=spec.negative if job.negative is None else job.negative,
        seed=job.seed,
        steps=job.steps or (spec.preview_steps if job.preview else spec.steps),
        guidance=spec.guidance if job.guidance is None else job.guidance,
        shift=spec.shift, width=w, height=h, preview=job.preview,
        start_time=job.strength if job.mode == "v2v" else 1.0,
        guidance_interval=spec.guidance_interval if job.guidance_interval is None else job.guidance_interval,
        guidance_focus=spec.guidance_focus,
        cut=job.cut,
    )
    unknown = tuple(model.unknown_words(job.prompt))
    warnings = list(job.notes)
    if unknown:
        warnings.append(f"{spec.name} does not know these words and ignores them: {', '.join(unknown)}")
    if not native:
        sizes = " and ".join(f"{a}x{b}" for a, b in spec.native_sizes)
        warnings.append(f"{spec.name} was trained at {sizes}; at {full_w}x{full_h} quality may drop")
    output = preview_output_size(job.width, job.height) if job.preview else (job.width, job.height)
    base = dict(job=job, model_name=spec.name, settings=settings, output_size=output, full_size=(full_w, full_h),
                native=native, unknown_words=unknown, warnings=tuple(warnings))
    return ClipPlan(**base, **_given_frames(job, spec, settings))


def _given_frames(job: Job, spec: ModelSpec, s: Settings) -> dict:
    """Which frames the engine is given, and how many it makes, for the job's mode."""

    def native(out_frames: int) -> int:  # model frames covering `out_frames` output frames
        return max(1, math.ceil(out_frames * spec.fps / job.fps)) if out_frames > 0 else 0

    def clip(head: bool = False, tail: bool = False) -> Given:
        """The input video as given, and at the working size only the frames the engine reads: its
        first or last context frames (resizing a long video whole took a minute for one second kept)."""
        src = job.video
        index = retime_indices(src.frames.shape[0], src.fps, spec.fps)
        k = spec.context_frames
        if (head or tail) and len(index) > 2 * k:
            index = (index[:k] if head else []) + (index[-k:] if tail else [])
        working = cover_resize(src.frames[index], s.width, s.height)
        # drawn latents describe the frames at the size they were drawn at, so they hold only where it is this one
        drawn = src.latents is not None and tuple(src.frames.shape[1:3]) == (s.height, s.width)
        return Given(src.frames, round(src.frames.shape[0] * job.fps / src.fps), working,
                     src.latents[:, :, index] if drawn else None)

    if job.mode == "animate":
        image = Given(job.image, 1, cover_resize(job.image, s.width, s.height))
        rest = job.frames - 1
        placed = {"after": image} if job.at == "end" else {"before": image}
        return placed | {"new_frames": native(rest), "new_count": rest}
    if job.mode == "extend":
        given = clip(head=job.backward, tail=not job.backward)
        return {"after" if job.backward else "before": given, "new_frames": native(job.frames),
                "new_count": job.frames}
    if job.mode == "loop":
        if job.video is None:  # the engine makes the first frame, then the rest runs back into it
            return {"loop": True, "new_frames": native(job.frames - 1), "new_count": job.frames - 1}
        # the bridge starts from the clip's last frames and lands on its first
        return {"before": clip(head=True, tail=True), "loop": True, "new_frames": native(job.frames),
                "new_count": job.frames}
    if job.mode == "v2v":
        source = clip().working
        return {"source": source, "new_frames": source.shape[0], "new_count": job.frames}
    return {"new_frames": native(job.frames), "new_count": job.frames}
