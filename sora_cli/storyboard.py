"""Storyboards: several shots in one clip, each joined to the one before by `continue` or `cut`.

A storyboard file (YAML) lists shots, each a prompt and its seconds:

    seed: 7                  # optional; also preset, width, height, fps, model, steps, guidance, negative
    shots:
      - prompt: a red ball bounces on the left
        seconds: 2
      - prompt: the red ball moves right
        seconds: 2           # join: continue (the default) - conditioned on the last frames, as extend is
      - prompt: a red ball on a sand background
        seconds: 1.5
        join: cut            # a new shot: its own window from noise, nothing continued

Each shot is a job of the modes that already exist: the first shot is a `generate`, every
`continue` an `extend` of the shot before it (given frames held clean by the engine's one
conditioning mechanism). A `cut` is a `generate` for models not trained for cuts (shot i
is then exactly `sora generate PROMPT --seed SEED+i` at the same size, rate and frames);
a model trained for them (`"cut" in spec.trained_for`) sees the shot before as context
through the same mechanism, with a prompt that says the cut (`Job.cut`: the join is not
smoothed, as a continue's is). Shot i samples with seed + i,
and `sora storyboard FILE --shot N` renders shot N alone (from the last shot that starts
from noise alone).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from torch import Tensor

from sora_cli.engine import Engine
from sora_cli.errors import BadInput
from sora_cli.frames import resample_indices
from sora_cli.jobs import Job
from sora_cli.models.interface import LoadedModel
from sora_cli.plan import ClipPlan, plan_clip
from sora_cli.render import render
from sora_cli.video_io import Video

JOINS = ("continue", "cut")
SHOT_KEYS = {"prompt", "seconds", "join"}
# What the file may set for the whole clip; the command line's options win over these.
BOARD_KEYS = {"shots", "seed", "preset", "width", "height", "fps", "model", "steps", "guidance", "negative"}
MAX_SHOTS = 64
MAX_SHOT_SECONDS = 600.0


@dataclass(frozen=True)
class Shot:
    prompt: str
    seconds: float
    join: str  # how it follows the shot before it; the first shot's is "cut"


@dataclass(frozen=True)
class Storyboard:
    shots: tuple[Shot, ...]
    settings: dict  # the clip-wide keys the file set (seed, preset, ...), for the request

    def as_dict(self) -> list[dict]:
        return [{"prompt": s.prompt, "seconds": s.seconds, "join": s.join} for s in self.shots]


def read_storyboard(path: Path) -> Storyboard:
    """Parse and check a storyboard file; every problem is a BadInput naming the file (and shot)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"storyboard not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise BadInput(f"{path}{line}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or "shots" not in data:
        raise BadInput(f"{path}: a storyboard is a mapping with a 'shots' list")
    problems = [f"unknown key '{k}' (known: {', '.join(sorted(BOARD_KEYS))})" for k in data if k not in BOARD_KEYS]
    raw = data["shots"]
    if not isinstance(raw, list) or not raw:
        problems.append("'shots' must be a non-empty list")
        raw = []
    if len(raw) > MAX_SHOTS:
        problems.append(f"{len(raw)} shots; at most {MAX_SHOTS}")
    shots = []
    for n, item in enumerate(raw, 1):
        shot, errors = _shot(item, first=n == 1)
        problems += [f"shot {n}: {e}" for e in errors]
        if shot is not None:
            shots.append(shot)
    if problems:
        raise BadInput(f"{path}: " + "; ".join(problems))
    return Storyboard(tuple(shots), {k: v for k, v in data.items() if k != "shots"})


def board_seed(path: Path) -> int | None:
    """The seed a storyboard file sets, if any (a file that does not read is reported where it is checked)."""
    try:
        seed = yaml.safe_load(path.read_text()).get("seed")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _shot(item: object, first: bool) -> tuple[Shot | None, list[str]]:
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict):
        return None, ["a shot is a mapping with prompt and seconds"]
    errors = [f"unknown key '{k}' (known: {', '.join(sorted(SHOT_KEYS))})" for k in item if k not in SHOT_KEYS]
    prompt = item.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append("needs a prompt")
    seconds = item.get("seconds", 2.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 0 < seconds <= MAX_SHOT_SECONDS:
        errors.append(f"seconds must be a number in (0, {MAX_SHOT_SECONDS:g}], not {seconds!r}")
    join = item.get("join", "cut" if first else "continue")
    if join not in JOINS:
        errors.append(f"join must be continue or cut, not {join!r}")
    elif first and join == "continue":
        errors.append("the first shot has nothing to continue")
    if errors:
        return None, errors
    return Shot(prompt.strip(), float(seconds), join), []


def shot_frames(shot: Shot, fps: float) -> int:
    return max(1, round(shot.seconds * fps))


def shot_job(base: Job, board: Storyboard, index: int, before: Tensor | None, cuts_in_context: bool = False,
             before_latents: Tensor | None = None) -> Job:
    """Shot `index` as a job of an existing mode: extend of `before` to continue; for a cut, generate,
    or, with a model trained for cuts (`cuts_in_context`), extend of `before` with a prompt that says
    the cut ("<shot before>, then cut to <this shot>"), as its training clips with one cut say it.
    `before_latents`: the raw latents `before` was drawn from (Video.latents)."""
    shot = board.shots[index]
    common = dict(seed=base.seed + index, frames=shot_frames(shot, base.fps))
    if before is None or (shot.join == "cut" and not cuts_in_context):
        return replace(base, mode="generate", video=None, video_path=None, prompt=shot.prompt, **common)
    prompt = shot.prompt
    if shot.join == "cut":
        said = prompt if prompt.lower().startswith("cut to") else f"cut to {prompt}"
        prompt = f"{board.shots[index - 1].prompt}, then {said}"
    return replace(base, mode="extend", video=Video(before, base.fps, latents=before_latents), video_path=None,
                   backward=False, cut=shot.join == "cut", prompt=prompt, **common)


def render_storyboard(board: Storyboard, base: Job, model: LoadedModel, engine: Engine,
                      only: int | None = None) -> Iterator[tuple[int, ClipPlan, Tensor]]:
    """(shot index, its plan, its new frames at the working size) for every shot in order; with
    `only`, for that shot alone (rendered from the last cut at or before it, so it matches)."""
    in_context = "cut" in model.spec.trained_for
    first = 0
    if only is not None and not in_context:
        first = max(i for i in range(only + 1) if board.shots[i].join == "cut")
    last = len(board.shots) - 1 if only is None else only
    before: Tensor | None = None
    before_latents: Tensor | None = None
    for i in range(first, last + 1):
        plan = plan_clip(shot_job(base, board, i, before, in_context, before_latents), model)
        new = render(plan, engine)[-1]  # extend forward puts the given frames first
        # At the output's rate and the working size (the encoder scales the clip once, at the end):
        # what the next shot continues, as extend would continue a file, with the latents the frames were drawn
        # from, so that it continues them as drawn: an object the shot before left out of view stays where it went,
        # and a small one keeps its shape (the encoder read both as absent or misread them, docs/storyboards.md).
        keep = resample_indices(new.frames.shape[0], new.count)
        before = new.frames[keep]
        before_latents = None if new.latents is None else new.latents[:, :, keep]
        if only is None or i == only:
            yield i, plan, before
