"""From what a user asked (CLI flags or a batch item) to a validated Job and its Output.

Everything that can be checked without the model is checked here, before any weights
load: the prompt, sizes, frame counts, input files, the output path.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

from sora_cli.errors import BadInput
from sora_cli.jobs import MODES, V2V_STRENGTH, Job, Output
from sora_cli.presets import DEFAULT_PRESET, check_size, get_preset
from sora_cli.video_io import check_output, read_image, read_video


@dataclass(frozen=True, kw_only=True)
class Request:
    mode: str = "generate"
    prompt: str = ""
    negative: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    preset: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    duration: float | None = None
    frames: int | None = None
    seconds: float | None = None  # extend / loop --video: length of the new part
    image: str | None = None
    at: str = "start"
    video: str | None = None
    backward: bool = False
    strength: float = V2V_STRENGTH
    model: str = "sora-mini"
    storyboard: str | None = None  # a storyboard file: the request renders its shots (storyboard_clip.py)
    output: str | None = None
    preview: bool = False
    overwrite: bool = False

    @property
    def kind(self) -> str:
        """What the request makes: its mode, or "storyboard"."""
        return "storyboard" if self.storyboard else self.mode

    @property
    def title(self) -> str:
        return self.storyboard or self.prompt


REQUEST_KEYS = {f.name for f in fields(Request)}
# An image this many times smaller than the output (on its tighter side) is worth a warning.
UPSCALE_WARNING = 4.0


def new_seed() -> int:
    return secrets.randbelow(2**31)


def slug(text: str, limit: int = 40) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:limit].strip("-") or "clip"


def default_output(req: Request, seed: int, folder: Path = Path(".")) -> Path:
    """A free name like red-ball-bounces-1234.mp4 (never an existing file)."""
    stem = f"{slug(req.prompt)}-{seed}" + ("-preview" if req.preview else "")
    path = folder / f"{stem}.mp4"
    n = 2
    while path.exists() or path.with_suffix(".json").exists():
        path, n = folder / f"{stem}-{n}.mp4", n + 1
    return path


def build_job(req: Request, default_folder: Path = Path("."),
              folder_to_be_made: Path | None = None) -> tuple[Job, Output]:
    """Check everything that can be checked without the model; `folder_to_be_made`: an output
    folder the caller creates after this (a batch's out-dir)."""
    if req.mode not in MODES:
        raise BadInput(f"unknown mode '{req.mode}' (use {', '.join(MODES)})")
    prompt = (req.prompt or "").strip()
    # A video to continue or close into a loop carries the content; words only steer it.
    if not prompt and not (req.video and req.mode in ("loop", "extend")):
        raise BadInput("the prompt is empty")
    for name in ("guidance", "fps", "duration", "seconds", "strength"):
        value = getattr(req, name)
        if value is not None and not math.isfinite(value):
            raise BadInput(f"--{name} must be a finite number, got {value}")
    if req.at not in ("start", "end"):
        raise BadInput(f"--at must be start or end, not '{req.at}'")
    if req.mode == "v2v" and not 0.0 < req.strength <= 1.0:
        raise BadInput(f"--strength must be in (0, 1], got {req.strength}")
    for name in ("steps",):
        value = getattr(req, name)
        if value is not None and value < 1:
            raise BadInput(f"--{name} must be at least 1, got {value}")
    if req.guidance is not None and req.guidance < 0:
        raise BadInput(f"--guidance must be >= 0, got {req.guidance}")

    needs_image = req.mode == "animate"
    needs_video = req.mode in ("extend", "v2v")
    if needs_image and not req.image:
        raise BadInput("animate needs an IMAGE")
    if needs_video and not req.video:
        raise BadInput(f"{req.mode} needs a VIDEO")
    image, image_frames = read_image(Path(req.image)) if needs_image else (None, 0)
    video = read_video(Path(req.video)) if (needs_video or (req.mode == "loop" and req.video)) else None

    width, height, fps, preset_duration = _size_and_fps(req, video)
    check_size(width, height)
    if req.fps is not None and not 1 <= req.fps <= 120:
        raise BadInput(f"--fps must be within 1..120, got {req.fps:g}")
    frames = _frame_count(req, video, fps, preset_duration)
    seed = new_seed() if req.seed is None else req.seed
    if not 0 <= seed < 2**63:
        raise BadInput(f"--seed must be within 0..2^63-1, got {seed}")
    output = Path(req.output) if req.output else default_output(req, seed, default_folder)
    if not output.suffix:
        output = output.with_suffix(".mp4")
    check_output(output, req.overwrite, folder_to_be_made)
    job = Job(
        mode=req.mode, prompt=prompt, seed=seed, model=req.model, width=width, height=height,
        fps=fps, frames=frames, negative=req.negative, steps=req.steps,
        guidance=req.guidance, preview=req.preview, image=image, image_path=req.image, at=req.at,
        video=video, video_path=req.video, backward=req.backward, strength=req.strength,
        notes=_dropped_inputs(req, image, image_frames, video, width, height),
    )
    return job, Output(output, req.overwrite)


def _dropped_inputs(req: Request, image, image_frames: int, video, width: int, height: int) -> tuple[str, ...]:
    """One line for each part of an input that the clip will not use as given."""
    notes = []
    if image_frames > 1:
        notes.append(f"{req.image} is animated; only its first frame is used")
    if image is not None:
        _, h, w, _ = image.shape
        scale = max(width / w, height / h)
        if scale >= UPSCALE_WARNING:
            notes.append(f"{req.image} is {w}x{h}; it is upscaled {scale:.0f} times to {width}x{height}")
    if video is not None and video.audio:
        notes.append(f"{req.video} has an audio track; the clip is written without it")
    return tuple(notes)


def _size_and_fps(req: Request, video) -> tuple[int, int, float, float]:
    if req.preset or video is None:
        preset = get_preset(req.preset or DEFAULT_PRESET)
        width, height, fps, duration = preset.width, preset.height, float(preset.fps), preset.duration
    else:  # modes with an input video default to its own size and rate
        _, h, w, _ = video.frames.shape
        width, height, fps, duration = w - w % 2, h - h % 2, video.fps, video.frames.shape[0] / video.fps
    width = req.width if req.width is not None else width
    height = req.height if req.height is not None else height
    return width, height, float(req.fps or fps), duration


def _frame_count(req: Request, video, fps: float, preset_duration: float) -> int:
    if req.frames is not None and req.duration is not None:
        raise BadInput("give --frames or --duration, not both")
    if req.mode == "v2v":
        return max(1, round(video.frames.shape[0] * fps / video.fps))
    if req.mode == "extend" or (req.mode == "loop" and video is not None):
        seconds = req.seconds if req.seconds is not None else (2.0 if req.mode == "extend" else 1.0)
        if req.frames is not None:
            seconds = req.frames / fps
        frames = round(seconds * fps)
    elif req.frames is not None:
        frames = req.frames
    else:
        duration = req.duration if req.duration is not None else preset_duration
        frames = round(duration * fps)
    if frames < 1:
        raise BadInput(f"that makes {frames} frames; ask for at least one")
    if req.mode in ("animate", "loop") and video is None and frames < 2:
        raise BadInput(f"{req.mode} needs at least 2 frames")
    if frames > 120 * 60 * fps:
        raise BadInput(f"{frames} frames is over the 2-hour limit")
    return frames
