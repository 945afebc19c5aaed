"""Evaluating a model of the sora-mini world from the pixels it makes.

Prompts come from held-out scenes and held-out caption templates; every clip is judged
by the independent checker (world/checker.py) at the model's working size (the output
file is that, scaled up). The checker's own agreement with the renderer on the same
scenes and sizes is reported beside the model's, as the ceiling of what it can see.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch

from sora_cli.engine import Engine
from sora_cli.frames import to_model, to_uint8
from sora_cli.jobs import Job
from sora_cli.models.interface import LoadedModel
from sora_cli.plan import plan_clip
from sora_cli.presets import get_preset
from sora_cli.render import render
from sora_cli.research.world.captions import HELD_OUT_PAIRS, caption
from sora_cli.research.world.checker import background, binding, check, is_bw, object_mask
from sora_cli.research.world.render import render as render_world
from sora_cli.research.world.scene import Scene, random_scene
from sora_cli.research.world.vocab import OBJECT_COLOURS
from sora_cli.video_io import Video

# The presets prompts are judged at (their sizes come from presets/*.yaml): 16:9 to 9:16.
PRESETS = ("16x9", "4x3", "1x1", "3x4", "9x16")
Log = Callable[[str], None]


@dataclass
class Scores:
    correct: Counter
    total: Counter
    binding_ok: int = 0
    binding_total: int = 0
    per_clip: list[tuple[int, int]] = field(default_factory=list)  # (correct, judged) of each clip

    def add(self, result: dict[str, bool], scene: Scene) -> None:
        for key, ok in result.items():
            attr = key.split(".")[-1]
            self.total[attr] += 1
            self.correct[attr] += bool(ok)
        self.per_clip.append((sum(map(bool, result.values())), len(result)))
        bound = binding(result, scene)
        if bound is not None:
            self.binding_total += 1
            self.binding_ok += bound

    @property
    def adherence(self) -> float:
        return sum(self.correct.values()) / max(1, sum(self.total.values()))

    @property
    def adherence_se(self) -> float | None:
        """Standard error of adherence over clips (a ratio estimate): whether two models really differ."""
        k = len(self.per_clip)
        judged = sum(n for _, n in self.per_clip)
        if k < 2 or not judged:
            return None
        a = self.adherence
        spread = sum((c - a * n) ** 2 for c, n in self.per_clip)
        return float(np.sqrt(spread * k / (k - 1)) / judged)

    def row(self) -> dict:
        se = self.adherence_se
        out = {"adherence": round(self.adherence, 3), "adherence_se": None if se is None else round(se, 3)}
        out |= {k: round(self.correct[k] / self.total[k], 3) for k in sorted(self.total)}
        if self.binding_total:
            out["binding"] = round(self.binding_ok / self.binding_total, 3)
        return out


def held_out_scenes(count: int, seed: int) -> list[tuple[Scene, str, str]]:
    """(scene, prompt, preset): held-out templates, a third with held-out colour-shape pairs."""
    rng = random.Random(seed)
    items = []
    while len(items) < count:
        scene = random_scene(rng, two_objects=0.35)
        if len(items) % 3 == 0:  # swap in a held-out pair
            colour, shape = rng.choice(sorted(HELD_OUT_PAIRS))
            if colour == scene.background:
                continue
            scene = replace(scene, things=(replace(scene.things[0], colour=colour, shape=shape),) + scene.things[1:])
            if scene.bw:
                scene = replace(scene, bw=False)
        items.append((scene, caption(scene, rng, held_out=True), rng.choice(PRESETS)))
    return items


def _frames(job: Job, engine: Engine) -> np.ndarray:
    """The generated frames at the working size, as the model made them."""
    segments = render(plan_clip(job, engine.model), engine)
    return torch.cat([s.frames for s in segments]).numpy()


def _make_job(prompt: str, preset: str, seed: int, preview: bool, frames: int = 48, **kw) -> Job:
    size = get_preset(preset)
    return Job(mode=kw.pop("mode", "generate"), prompt=prompt, seed=seed, model="", width=size.width,
               height=size.height, fps=24, frames=frames, preview=preview, **kw)


@torch.no_grad()
def round_trip(model: LoadedModel, frames: torch.Tensor) -> np.ndarray:
    """uint8 (T, H, W, 3) -> the same frames encoded and decoded by the model's autoencoder."""
    video = to_model(frames).permute(1, 0, 2, 3)[None].to(model.device, model.dtype)
    decoded = model.net.vae.decode(model.net.vae.encode(video), size=tuple(frames.shape[1:3]))[0].permute(1, 0, 2, 3)
    return to_uint8(decoded.cpu()).numpy()


def flicker(frames: np.ndarray) -> float:
    """Mean change of background pixels between consecutive frames (0-255)."""
    _, bg = background(frames, is_bw(frames))
    f = frames.astype(np.float32)
    is_bg = np.sqrt(((f - bg) ** 2).sum(-1)) < 30
    both = is_bg[1:] & is_bg[:-1]
    diff = np.abs(f[1:] - f[:-1]).mean(-1)
    return float(diff[both].mean()) if both.any() else float("nan")


def pieces(frames: np.ndarray, scene: Scene) -> float | None:
    """Separate blobs the middle frame shows of each stated object colour (mean over those found).

    One means the object is drawn whole. A model whose tokens decide alone whether they hold the
    object draws it as a patchwork: the checker still finds the colour, and this counts the patches.
    """
    frame = frames[len(frames) // 2 : len(frames) // 2 + 1]
    bw = is_bw(frames)
    _, bg = background(frames, bw)
    counts = []
    for thing in scene.things:
        mask = object_mask(frame, bg, OBJECT_COLOURS[thing.colour], bw)[0]
        blobs = [n for n in _blob_sizes(mask) if n >= MIN_BLOB]
        if blobs:
            counts.append(len(blobs))
    return float(np.mean(counts)) if counts else None


# Pixels a blob needs to count (at the working size, a small object is about 8x8).
MIN_BLOB = 4


def _blob_sizes(mask: np.ndarray) -> list[int]:
    """Sizes of the 4-connected components of a (H, W) mask."""
    seen = np.zeros_like(mask, dtype=bool)
    h, w = mask.shape
    sizes = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, size = [(y0, x0)], 0
        while stack:
            y, x = stack.pop()
            size += 1
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        sizes.append(size)
    return sizes


def seam_ratio(frames: np.ndarray, seam: int) -> float:
    """Change across frames[seam-1] -> frames[seam] over the clip's median frame-to-frame change."""
    f = frames.astype(np.float32)
    steps = np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))
    jump = np.abs(f[seam % len(f)] - f[seam - 1]).mean()
    return float(jump / max(np.median(steps), 0.5))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def evaluate(model: LoadedModel, prompts: int = 20, seed: int = 0, modes: int = 4, long_seconds: float = 60.0,
             log: Log = lambda m: None, guidance: float | None = None,
             guidance_interval: tuple[float, float] | None = None) -> dict:
    """Every figure of the model card. `guidance` and `guidance_interval` override the model's own for every clip."""
    engine = Engine(model)
    _job = partial(_make_job, guidance=guidance, guidance_interval=guidance_interval)
    spec = model.spec
    report: dict = {"settings": {"guidance": spec.guidance if guidance is None else guidance,
                                 "guidance_interval": list(guidance_interval or spec.guidance_interval),
                                 "guidance_focus": spec.guidance_focus,
                                 "steps": spec.steps, "preview_steps": spec.preview_steps}}
    items = held_out_scenes(prompts, seed)
    for preview in (True, False):
        model_scores, truth_scores = Scores(Counter(), Counter()), Scores(Counter(), Counter())
        vae_scores = Scores(Counter(), Counter())
        flickers, model_pieces, truth_pieces = [], [], []
        for i, (scene, prompt, preset) in enumerate(items):
            job = _job(prompt, preset, seed + i, preview)
            frames = _frames(job, engine)
            model_scores.add(check(frames, scene), scene)
            s = plan_clip(job, model).settings
            truth = render_world(scene, s.width, s.height, 49)
            truth_frames = truth[:48].numpy()
            truth_scores.add(check(truth_frames, scene), scene)
            vae_scores.add(check(round_trip(model, truth)[:48], scene), scene)
            flickers.append(flicker(frames))
            model_pieces.append(pieces(frames, scene))
            truth_pieces.append(pieces(truth_frames, scene))
            log(f"{'preview' if preview else 'full'} {i + 1}/{len(items)}: {prompt}")
        name = "preview" if preview else "full"
        report[name] = model_scores.row() | {"flicker": round(float(np.nanmean(flickers)), 2),
                                             "pieces": _mean_of_found(model_pieces)}
        report[f"{name}_checker_on_ground_truth"] = truth_scores.row() | {"pieces": _mean_of_found(truth_pieces)}
        # The autoencoder's round trip of the same scenes: the most the DiT's clips can show.
        report[f"{name}_checker_on_vae_round_trip"] = vae_scores.row()

    rng = random.Random(seed + 1)
    conditioned = [(random_scene(rng, two_objects=0.0, bw=0.0), rng.choice(PRESETS)) for _ in range(modes)]
    animate_psnr, animate_seam, extend_seam, loop_seam, v2v_motion, v2v_colour = [], [], [], [], [], []
    for i, (scene, preset) in enumerate(conditioned):
        prompt = caption(scene, rng)
        s = plan_clip(_job(prompt, preset, 0, False), model).settings
        truth = render_world(scene, s.width, s.height, 49)
        # animate: the world's first frame as the image
        job = _job(prompt, preset, seed + i, False, mode="animate", image=truth[:1])
        frames = _frames(job, engine)
        animate_psnr.append(psnr(frames[0], truth[0].numpy()))
        animate_seam.append(seam_ratio(frames, 1))
        # extend: two seconds of the world, one more second from the model
        job = _job(prompt, preset, seed + i, False, frames=24, mode="extend", video=Video(truth[:48], 24.0))
        frames = _frames(job, engine)
        extend_seam.append(seam_ratio(frames, 48))
        # loop: the wrap-around from the last frame to the first
        frames = _frames(_job(prompt, preset, seed + i, False, mode="loop"), engine)
        loop_seam.append(seam_ratio(frames, len(frames)))
        # v2v: same clip, another colour asked for
        thing = scene.things[0]
        new_colour = next(c for c in OBJECT_COLOURS if c not in (thing.colour, scene.background))
        new_scene = replace(scene, things=(replace(thing, colour=new_colour),))
        job = _job(caption(new_scene, rng), preset, seed + i, False, mode="v2v", video=Video(truth[:48], 24.0),
                   strength=0.7)
        frames = _frames(job, engine)
        result = check(frames, new_scene)
        v2v_colour.append(bool(result.get("colour")))
        v2v_motion.append(bool(result.get("motion")))
        log(f"conditioned modes {i + 1}/{len(conditioned)}")
    if conditioned:  # --modes 0 leaves these rows out rather than reporting means of nothing
        report["animate"] = {"frame0_psnr_db": round(float(np.mean(animate_psnr)), 2),
                             "seam_over_typical": round(float(np.mean(animate_seam)), 2)}
        report["extend"] = {"seam_over_typical": round(float(np.mean(extend_seam)), 2)}
        report["loop"] = {"seam_over_typical": round(float(np.mean(loop_seam)), 2)}
        report["v2v"] = {"colour_changed": round(float(np.mean(v2v_colour)), 3),
                         "motion_kept": round(float(np.mean(v2v_motion)), 3)}
    if long_seconds:
        report["long"] = long_clip(engine, rng, seed, long_seconds, log, _job)
    return report


def long_clip(engine: Engine, rng: random.Random, seed: int, seconds: float, log: Log,
              make_job: Callable[..., Job] = _make_job) -> dict:
    """A chained clip at preview size: does the object keep its colour, shape and size to the end?"""
    thing_scene = random_scene(rng, two_objects=0.0, bw=0.0)
    thing = replace(thing_scene.things[0], motion="circles", layout=None)
    scene = replace(thing_scene, things=(thing,), size_said=(True,))
    frames = _frames(make_job(caption(scene, rng), "16x9", seed, True, frames=round(seconds * 24)), engine)
    results = [check(frames[start:start + 48], scene) for start in range(0, len(frames) - 47, 48)]
    n = max(1, len(results))
    kept = {attr: sum(bool(r.get(attr)) for r in results) for attr in ("colour", "shape", "size")}
    first_half = [bool(r.get("colour")) for r in results[: n // 2]]
    second_half = [bool(r.get("colour")) for r in results[n // 2:]]
    log(f"long clip: {len(frames)} frames")
    return {"seconds": seconds, "windows_judged": n} | {f"{k}_kept": round(kept[k] / n, 3) for k in
                                                        ("colour", "shape", "size")} | {
        "colour_first_half": round(float(np.mean(first_half or [0])), 3),
        "colour_second_half": round(float(np.mean(second_half or [0])), 3)}


def _mean_of_found(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(float(np.mean(found)), 2) if found else None


def report_json(report: dict) -> str:
    """The report as strict JSON: a figure that was not measured (NaN) is null, a PSNR of
    identical frames (inf) is the string "inf"; bare NaN and Infinity break most parsers."""

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, float) and not np.isfinite(value):
            return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
        return value

    return json.dumps(plain(report), sort_keys=True, allow_nan=False)
