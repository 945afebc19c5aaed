"""Training batches rendered on the fly: clips, captions and random conditioning."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from sora_cli.frames import to_model
from sora_cli.models.mini.pixels import to_cells
from sora_cli.presets import working_size
from sora_cli.research.world import captions as templates
from sora_cli.research.world.captions import caption, is_held_out
from sora_cli.research.world.render import coverage, render
from sora_cli.research.world.scene import Scene, random_scene
from sora_cli.research.world.vocab import (
    BACKGROUNDS,
    FPS,
    MOTIONS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
)
from sora_cli.specs import ModelSpec

# The world's aspect ratios, 16:9 to 9:16.
ASPECTS = ((16, 9), (3, 2), (4, 3), (1, 1), (3, 4), (2, 3), (9, 16))
# Conditioning a training clip gets, so animate, extend and loop work natively.
COND_MODES = ("none", "first", "first_k", "last_k", "both")
COND_WEIGHTS = (0.4, 0.2, 0.15, 0.15, 0.1)


@dataclass
class Batch:
    video: Tensor | None  # (B, 3, T, H, W) in [-1, 1]; None when not rendered (scene latents need none)
    scenes: list[Scene]  # captioned afresh at each use (captions_for)
    cond: list[str]  # one of COND_MODES per clip
    cond_latents: list[int]  # how many latent frames each condition spans (first_k / last_k / both)
    starts: list[float]  # each clip's first frame's time in its scene (seconds)


def working_sizes(spec: ModelSpec) -> list[tuple[int, int]]:
    """Full and preview working sizes of every aspect (the model must do both well)."""
    sizes = []
    for w, h in ASPECTS:
        full = working_size(w * 120, h * 120, spec.max_area, spec.size_multiple)
        sizes += [full, (full[0] // 2, full[1] // 2)]
    return sizes


@dataclass(frozen=True)
class WorldMix:
    """What share of training scenes have two objects, are in black and white, have a camera
    (of which `cut` have one cut, and of the rest `still` hold still and `late` start their move
    partway): the arguments of scene.random_scene. `cut_continues`: the share of cut clips trained
    as a continuation whose cut comes right after the frames given, as a storyboard's cut shot is
    (else a cut clip's conditioning is drawn as any clip's, which gives 15% of them that)."""

    two_objects: float = 0.3
    bw: float = 0.1
    camera: float = 0.0
    cut: float = 0.0
    still: float = 0.0
    late: float = 0.0
    cut_continues: float = 0.0
    after_move: float = 0.0  # of late moves, the share that start after another move or a cut's framing
    unmarked: float = 0.0  # of cuts, the share whose scene shows no marks (a storyboard that said no camera)


def training_scenes(rng: random.Random, count: int, world: WorldMix = WorldMix()) -> list[Scene]:
    scenes = []
    while len(scenes) < count:
        scene = random_scene(rng, world.two_objects, world.bw, world.camera, world.cut, world.still, world.late,
                             world.after_move, world.unmarked)
        if not is_held_out(scene):
            scenes.append(scene)
    return scenes


def glue_words() -> frozenset[str]:
    """The words the training templates join a scene's phrases with ("while", "and", "on a ... background"):
    they name nothing in the scene. Held-out templates are not read."""
    trained = [t for i, t in enumerate(templates.SINGLE) if i not in templates.HELD_OUT_SINGLE]
    trained += [t for i, t in enumerate(templates.DOUBLE) if i not in templates.HELD_OUT_DOUBLE]
    trained += templates.BG_TEMPLATES
    return frozenset(w for t in trained for w in re.sub(r"\{[^}]*\}|[,;:]", " ", t).split())


GLUE = glue_words()


def captions_for(scenes: list[Scene], rng: random.Random, drop_text: float, drop_glue: float = 0.0,
                 camera_keeps_glue: bool = False) -> list[str]:
    """A fresh training caption per scene; empty with probability drop_text (for guidance). Each glue word is
    left out with probability drop_glue, so that two objects are read from two objects named, not from the
    "while" or "and" between them: v13 drew one object for 14 of 20 held-out two-object prompts, whose template
    joins them with "; meanwhile", and for 18 of 20 with that word taken out."""
    texts = ["" if rng.random() < drop_text else caption(scene, rng) for scene in scenes]
    if not drop_glue:
        return texts
    return [text if camera_keeps_glue and scene.camera is not None
            else " ".join(w for w in text.split(" ") if w not in GLUE or rng.random() >= drop_glue)
            for scene, text in zip(scenes, texts)]


def foreground(video: Tensor) -> Tensor:
    """(B, 1, T, H, W) mask of object pixels, grown by a pixel so edges count too.

    The world's background is one flat colour, so it is the median of the first frame's
    border; anything away from it is an object. Losses weight these pixels up: objects
    cover a few percent of a frame, and an unweighted loss learns the background first
    and the objects last (sora-mini v0's autoencoder drew red balls teal).
    """
    first = video[:, :, 0]
    border = torch.cat([first[..., 0, :], first[..., -1, :], first[..., :, 0], first[..., :, -1]], dim=-1)
    bg = border.median(dim=-1).values[:, :, None, None, None]
    mask = ((video - bg).abs().amax(dim=1, keepdim=True) > 0.04).float()
    return F.max_pool3d(mask, (1, 3, 3), stride=1, padding=(0, 1, 1))


def latent_grid(mask: Tensor, temporal: int, spatial: int) -> Tensor:
    """A pixel mask pooled onto the causal latent grid (frame 0 alone, then groups of `temporal`)."""
    first = F.max_pool3d(mask[:, :, :1], (1, spatial, spatial))
    if mask.shape[2] == 1:
        return first
    return torch.cat([first, F.max_pool3d(mask[:, :, 1:], (temporal, spatial, spatial))], dim=2)


def clip_batch(rng: random.Random, spec: ModelSpec, batch: int, frames: int, size: tuple[int, int],
               max_offset: float = 0.0, world: WorldMix = WorldMix(), still_times: float = 0.0,
               draw: bool = True) -> Batch:
    """`batch` clips with random conditioning, rendered if `draw`; one-frame clips are drawn at a time in
    [0, still_times) of their scenes (0: their first frame, what animate starts from)."""
    scenes = training_scenes(rng, batch, world)
    w, h = size
    videos, conds, spans, starts = [], [], [], []
    latent_frames = 1 + (frames - 1) // spec.vae.temporal_factor
    given_most = 1 + (spec.context_frames - 1) // spec.vae.temporal_factor
    for scene in scenes:
        mode = rng.choices(COND_MODES, COND_WEIGHTS)[0] if latent_frames > 1 else "none"
        # Extensions continue clips mid-motion: give conditioned clips a later start sometimes.
        t0 = rng.uniform(0, max_offset) if mode in ("first_k", "first") and rng.random() < 0.5 else 0.0
        if frames == 1 and still_times:
            t0 = rng.uniform(0, still_times)
        # as many latent frames as a chained window is given (extend, long clips), or fewer
        span = rng.randint(1, max(1, min(given_most, latent_frames - 2)))
        camera = scene.camera
        if camera is not None and camera.change_at is not None and frames > 1:
            # A move that starts partway is always a continuation's, as a storyboard's next shot starts it, and a cut
            # is with probability cut_continues (no draw at 0: seeded batches stay those trained before).
            if latent_frames > 1 and (camera.cut_at is None
                                      or (world.cut_continues and rng.random() < world.cut_continues)):
                mode = "first_k"
            # The cut (or the move's start) happens in the window, where its caption says. Extending a shot, it comes
            # right after the frames given, as a storyboard's cut or move follows the shot before it.
            given = 1 + spec.vae.temporal_factor * (span - 1)
            t0 = max(0.0, camera.change_at - given / FPS) if mode == "first_k" else 0.0
        if draw:
            videos.append(to_model(render(scene, w, h, frames, t0=t0)).transpose(0, 1))  # (3, T, H, W)
        conds.append(mode)
        spans.append(span)
        starts.append(t0)
    return Batch(torch.stack(videos) if draw else None, scenes, conds, spans, starts)


def pixel_cells(rng: random.Random, spec: ModelSpec, clips: int, world: WorldMix = WorldMix()) -> Tensor:
    """(N, cell_values): the latent cells' pixels of `clips` full windows at each working size,
    what a linear autoencoder is fitted to."""
    out = []
    for size in working_sizes(spec):
        batch = clip_batch(rng, spec, clips, spec.window_frames, size, max_offset=3.0, world=world)
        cells = to_cells(batch.video, spec.vae.temporal_factor, spec.vae.spatial_factor)
        out.append(rearrange(cells, "b c t h w -> (b t h w) c"))
    return torch.cat(out)


# What a layout target says of each object it covers: colour, shape, size and motion, one-hot;
# and of every token, the background. The renderer knows all of it exactly.
LAYOUT_FEATURES = len(OBJECT_COLOURS) + len(SHAPES) + len(SIZES) + len(MOTIONS) + len(BACKGROUNDS)


# Where each object is, seen from each token (layout_targets with offsets): for the first two objects,
# whether it is in the token's latent frame and its centre's offset from the token's centre (fractions of the frame).
OFFSET_FEATURES = 6


def layout_targets(batch: Batch, frames: int, size: tuple[int, int], temporal: int, cell: tuple[int, int],
                   offsets: bool = False) -> Tensor:
    """(B, N, LAYOUT_FEATURES [+ OFFSET_FEATURES]): per DiT token (t h w order), the share of its pixels each
    object attribute covers, from the renderer's own masks. `cell` is a token's (height, width) in pixels.

    With `offsets`, also where the scene's objects are in the token's latent frame. Unlike what lies under
    a token, that is the same fact for every token of a frame, so from high noise a token can only predict
    it by finding the object among all the frame's tokens.
    """
    w, h = size
    out, where = [], []
    for scene, t0 in zip(batch.scenes, batch.starts):
        covers = coverage(scene, w, h, frames, t0=t0)  # (K, T, H, W)
        feats = torch.zeros(LAYOUT_FEATURES, frames, h, w)
        for thing, cover in zip(scene.things, covers):
            for index in _attribute_indices(thing):
                feats[index] += cover
        feats[LAYOUT_FEATURES - len(BACKGROUNDS) + list(BACKGROUNDS).index(scene.background)] = 1.0
        out.append(feats)
        if offsets:
            where.append(_object_offsets(latent_grid_mean(covers[None], temporal)[0], cell))
    x = latent_grid_mean(torch.stack(out), temporal)  # (B, F, t, H, W)
    ph, pw = cell
    pad_h, pad_w = (-h) % ph, (-w) % pw
    x = F.pad(x, (0, pad_w, 0, pad_h, 0, 0), mode="replicate") if pad_h or pad_w else x
    x = F.avg_pool3d(x, (1, ph, pw)).flatten(2).transpose(1, 2)
    return torch.cat([x, torch.stack(where)], dim=-1) if offsets else x


def _object_offsets(covers: Tensor, cell: tuple[int, int]) -> Tensor:
    """(t*gh*gw, OFFSET_FEATURES) from the objects' coverage on the latent frames, (K, t, H, W)."""
    h, w = covers.shape[-2:]
    ph, pw = cell
    ys = (torch.arange(-(-h // ph)) * ph + ph / 2) / h
    xs = (torch.arange(-(-w // pw)) * pw + pw / 2) / w
    ty, tx = torch.meshgrid(ys, xs, indexing="ij")  # (gh, gw) token centres
    py = (torch.arange(h, dtype=torch.float32) + 0.5) / h
    px = (torch.arange(w, dtype=torch.float32) + 0.5) / w
    feats = torch.zeros(OFFSET_FEATURES, covers.shape[1], *ty.shape)
    for k, cover in enumerate(covers[:OFFSET_FEATURES // 3]):
        mass = cover.sum((1, 2))  # (t,)
        here = mass > 0.5
        cy = (cover.sum(2) * py).sum(1) / mass.clamp_min(1e-6)
        cx = (cover.sum(1) * px).sum(1) / mass.clamp_min(1e-6)
        feats[3 * k] = here[:, None, None].float()
        feats[3 * k + 1] = (cx[:, None, None] - tx) * here[:, None, None]
        feats[3 * k + 2] = (cy[:, None, None] - ty) * here[:, None, None]
    return feats.flatten(1).T


def _attribute_indices(thing) -> list[int]:
    offsets = [0, len(OBJECT_COLOURS), len(OBJECT_COLOURS) + len(SHAPES),
               len(OBJECT_COLOURS) + len(SHAPES) + len(SIZES)]
    return [offsets[0] + list(OBJECT_COLOURS).index(thing.colour), offsets[1] + SHAPES.index(thing.shape),
            offsets[2] + list(SIZES).index(thing.size), offsets[3] + MOTIONS.index(thing.motion)]


def latent_grid_mean(x: Tensor, temporal: int) -> Tensor:
    """(B, F, T, H, W) averaged onto the causal latent frames: frame 0 alone, then groups of `temporal`."""
    if x.shape[2] == 1:
        return x
    rest = F.avg_pool3d(x[:, :, 1:], (temporal, 1, 1))
    return torch.cat([x[:, :, :1], rest], dim=2)
