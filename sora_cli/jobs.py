"""A job: one clip to render, with every input read and checked (where it is written is not its concern).

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

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from sora_cli.video_io import Video

MODES = ("generate", "animate", "extend", "loop", "v2v")
# How much v2v changes a clip when the user does not say: enough to restyle, not to redraw.
V2V_STRENGTH = 0.6


@dataclass(frozen=True, kw_only=True)
class Job:
    mode: str
    prompt: str
    seed: int
    model: str
    width: int  # output size
    height: int
    fps: float
    frames: int  # output frames that the model makes (v2v: the whole clip)
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
    cut: bool = False  # extend that cuts away from the video (a storyboard's cut): it is context, not continued
    strength: float = V2V_STRENGTH
    notes: tuple[str, ...] = ()  # inputs not used as given (an audio track, a GIF's later frames): warned


@dataclass(frozen=True)
class Output:
    """Where a clip is written: the file (its .json sidecar beside it) and whether it may replace one."""

    path: Path
    overwrite: bool = False
