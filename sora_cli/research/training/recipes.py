"""Training recipes as data: a model spec and the TrainConfig settings that train it from scratch.

`sora train --recipe NAME` runs one. The bake-off of issue 18 compares these at a fixed CPU
budget on the same held-out prompts (docs/sora-mini-bakeoff.md); the winner's spec becomes
SORA_MINI (since the eighth round, frame-dit's).
"""

from __future__ import annotations

from dataclasses import replace

from sora_cli.models.mini import frame_latents
from sora_cli.noise import NoiseSpec
from sora_cli.research.training.data import WorldMix
from sora_cli.specs import SORA_MINI, DiTSpec, ModelSpec, TextSpec, VAESpec

# sora-mini v1-v10: a learned causal VAE (8x8 pixels x 4 frames a cell, 16 channels), then a latent DiT on 2x2-cell
# tokens; v8 shipped until the bake-off's eighth round, with focused guidance from its seventh.
LATENT_DIT = ModelSpec(
    name="sora-mini",
    vae=VAESpec(latent_channels=16, base_channels=8, channel_mults=(1, 2, 4, 8)),
    dit=DiTSpec(dim=192, depth=6, heads=3, frame_positions=True),
    text=TextSpec(vocab_size=256, dim=128, depth=2, heads=2, max_tokens=40),
    max_area=144 * 80,
    steps=30,
    preview_steps=8,
    trained_for=("generate", "animate", "extend", "loop"),
    guidance_focus=0.5,
    cpu_bf16=True,
)

# Raw pixels, 8x8 pixels x 4 frames a latent cell and 2x2 cells a token: a token is a
# 16x16x4 block (3,072 values), 585 tokens for a 2 s 144x80 window, 195 for a preview.
PIXELS = VAESpec(kind="pixels", latent_channels=3 * 4 * 8 * 8, channel_mults=(1, 1, 1, 1),
                 temporal_down=(False, True, True))

# A pixel-space DiT that predicts the clean clip (JiT), with the caption pooled into adaLN as
# well as cross-attended. On this CPU a step is bound by memory traffic (elementwise passes
# and attention over 585 tokens), not by matmuls: widths 256 / 384 / 512 cost 3.0 / 4.3 /
# 5.2 s a step of 12 full-size clips in bf16, so 256 buys the most steps in a fixed budget.
PIXEL_DIT = ModelSpec(
    name="sora-mini",
    vae=PIXELS,
    dit=DiTSpec(dim=256, depth=6, heads=4, patch=(1, 2, 2), frame_positions=True, predicts="clean",
                pooled_text=True),
    text=TextSpec(vocab_size=256, dim=128, depth=2, heads=2, max_tokens=40),
    max_area=144 * 80,
    steps=30,
    preview_steps=8,
    shift=3.0,
)

# Pixel cells of the same geometry (8x8 pixels x 4 frames) projected on their first 32 principal
# components (models/mini/linear_latents.py): a token is 2x2 cells, 128 values instead of 3,072.
LINEAR = VAESpec(kind="linear", latent_channels=32, channel_mults=(1, 1, 1, 1), temporal_down=(False, True, True))
LINEAR_DIT = replace(PIXEL_DIT, vae=LINEAR)
LINEAR_VELOCITY = replace(LINEAR_DIT, dit=replace(LINEAR_DIT.dit, predicts="velocity"))
# Batches of 12 full-size clips, each used twice, and a layout head.
LINEAR_SETTINGS = dict(vae_minutes=0.0, batch_scale=4, reuse=2, time_mean=0.5, time_std=1.0, ema=0.995,
                       warmup_steps=100, layout_weight=1.0, layout_block=2, layout_until=0.5)
# Uniform times with shift 6, for training and sampling alike: linear-dit-banded's, and its variants'.
BANDED = replace(LINEAR_VELOCITY, shift=6.0)
BANDED_SETTINGS = LINEAR_SETTINGS | dict(time_mean=None)
# Round six's two ways to make tokens read each other, named once for the recipes that use them.
LOCAL = replace(BANDED, dit=replace(BANDED.dit, local_kernel=(3, 3, 3)))
MASKED_OBJECTS = dict(mask_ratio=0.25, mask_object_weight=2.0)
SMOOTH = NoiseSpec(smooth=0.5, width=0.1, frame_corr=0.9)
# sora-mini as it trains: on the noise it samples from, which drifts over frames (SORA_MINI.noise). v11 trained
# on white noise and sampled from drifting noise; v12 went on from it on the drifting noise.
FRAME_DIT = SORA_MINI
# FRAME_DIT with a token of its own for each object slot of the scene latent.
SLOT_DIT = replace(FRAME_DIT, dit=replace(FRAME_DIT.dit, part_tokens=tuple(
    (frame_latents.BACKGROUND + frame_latents.SLOT * k, frame_latents.SLOT) for k in range(frame_latents.SLOTS))))
# Round fifteen's world: two objects in 80% of scenes and a camera in half, 70% of those one cut, so about 14% of
# clips are two-object close-ups instead of 4% (frame-dit-shots's).
TWO_CUTS_WORLD = WorldMix(two_objects=0.8, camera=0.5, cut=0.7, still=0.15, late=0.5, cut_continues=0.6)
# Round eighteen's: as many cuts (37% of scenes), half of them without marks, and a late pan or zoom in 11% of
# scenes instead of 5%, 70% of them after another pan or zoom or a cut's framing (camera.BEFORE) rather than a still
# camera.
JOINS_WORLD = replace(TWO_CUTS_WORLD, camera=0.6, cut=0.6, late=0.7, after_move=0.7, unmarked=0.5)
# Its settings: the autoencoder's 20 budget minutes first, a fifth of scenes with a camera (half of them one cut).
FRAME_SETTINGS = dict(vae_minutes=20.0, vae_lr=2e-3, batch_scale=8, ema=0.995, warmup_steps=100,
                      world=WorldMix(camera=0.2, cut=0.5), drop_glue=0.3)

# name -> (spec, TrainConfig settings). Budgets (minutes, clock) are the command line's.
RECIPES: dict[str, tuple[ModelSpec, dict]] = {
    # Today's design (v1-v10): a learned causal VAE, then a latent DiT predicting velocity.
    "latent-dit": (LATENT_DIT, dict(vae_minutes=15.0, reuse=3)),
    # JiT in pixels: x-prediction, logit-normal times toward noise (median t = 0.73), batches
    # of 18 full-size clips (36 previews), bf16 where the CPU has it natively.
    "pixel-dit": (PIXEL_DIT, dict(vae_minutes=0.0, batch_scale=4, time_mean=1.0, time_std=1.0, ema=0.995,
                                  warmup_steps=100)),
    # The same, plus a REPA-style head that aligns block 2's tokens to the renderer's layout
    # (which object attributes lie under each token) for the first half of the budget.
    "pixel-dit-layout": (PIXEL_DIT, dict(vae_minutes=0.0, batch_scale=4, time_mean=1.0, time_std=1.0, ema=0.995,
                                         warmup_steps=100, layout_weight=1.0, layout_block=2, layout_until=0.5)),
    # pixel-dit-layout with its times moved to where a pixel token's content is still unknown.
    # A token's mean colour is read from x_t at an SNR of about 3072 ((1 - t) / t)^2: still 8 at
    # t = 0.95, so the bake-off's models learned to copy each token's colour out of its own faint
    # signal and, from pure noise at t = 1 (error 10x that at t = 0.95, prompt_use.py), drew a
    # patchwork. Moving t's logit by half the log of the token-size ratio to a latent token (3072
    # against 64 values: +1.9, as SD3 and Simple Diffusion shift for resolution) trains t = 0.97-0.995
    # (median t 0.92) and samples there (shift 12 instead of 3).
    "pixel-dit-shifted": (replace(PIXEL_DIT, shift=12.0),
                          dict(vae_minutes=0.0, batch_scale=4, time_mean=2.5, time_std=1.0, ema=0.995,
                               warmup_steps=100, layout_weight=1.0, layout_block=2, layout_until=0.5)),
    # Between the two: at 15 budget minutes from the same start, pixel-dit-shifted drew the right
    # background (0.90 against 0.60) but lost object colour (0.27 against 0.42): it trains t < 0.7
    # only 5% of the time, where objects get their detail, and samples there in 3 of 30 steps. A
    # wider spread (median t 0.85, 27% below 0.7, 12% above 0.97) and shift 6 keep both.
    "pixel-dit-shifted-wide": (replace(PIXEL_DIT, shift=6.0),
                               dict(vae_minutes=0.0, batch_scale=4, time_mean=1.75, time_std=1.5, ema=0.995,
                                    warmup_steps=100, layout_weight=1.0, layout_block=2, layout_until=0.5)),
    # The pixel DiT on linear latents: the round trip keeps 0.93 of what the checker finds in the
    # world's clips, and a token's 128 unit-variance values carry about what a latent token does, so
    # times and shift are a latent model's (logit-normal a little toward noise, median t 0.62; shift 3).
    "linear-dit": (LINEAR_DIT, LINEAR_SETTINGS),
    # The same predicting the velocity, as sora-mini v1-v10's latent DiT did: the bake-off's best (0.422 full at 30
    # budget minutes against linear-dit's 0.333; 0.476 / 0.395 at 60, docs/sora-mini-bakeoff.md).
    "linear-dit-velocity": (LINEAR_VELOCITY, LINEAR_SETTINGS),
    # Whitening gives each of the 32 components unit variance, although their stds run from 19 down to 0.17:
    # 29 components of sub-cell detail then hold most of the loss, and are as loud as the cell's colour
    # at every noise level, so detail is decided together with the layout (the candidate's frames are
    # patchworks of textured cells). Less whitening keeps coarse-to-fine: the components' own
    # proportions (whiten 0, layout decided near t = 0.9, so times and shift move toward noise) or
    # their square roots (whiten 0.5).
    "linear-dit-global": (replace(LINEAR_VELOCITY, vae=replace(LINEAR, whiten=0.0), shift=4.0),
                          LINEAR_SETTINGS | dict(time_mean=1.0)),
    "linear-dit-half": (replace(LINEAR_VELOCITY, vae=replace(LINEAR, whiten=0.5)),
                        LINEAR_SETTINGS | dict(time_mean=0.75)),
    # linear-dit-velocity trained and sampled where its layout is decided. A linear token tells object from
    # background in its own noisy values far later than a v8 latent token: an object cell differs from the
    # background by a median squared distance of 220 against v8's 49 (benchmarks/decision_times.py), so the
    # evidence of one token passes a log-likelihood ratio of 3 near t = 0.9 instead of 0.8. Times drawn
    # logit-normal about t = 0.62 put 5% of the steps above 0.9; then the DiT never learns to weigh one token's
    # evidence against another's and each token decides alone (the patchwork). Uniform times with v8's own
    # shift moved by that 4.5x ratio (shift 3 x sqrt(4.5), about 6) train 0.85 < t < 0.97 in 36% of the steps,
    # as v8 trained its own band, and sample there with the same shift.
    "linear-dit-banded": (BANDED, BANDED_SETTINGS),
    # linear-dit-banded whose layout head also learns where each object of a frame is, at every token of it
    # (TrainConfig.layout_offsets). benchmarks/token_reach.py finds every sora-mini DiT so far a local denoiser:
    # moving one token's input moves each other token's output by under 0.5% as much (v8: under 0.03%). A
    # fact of the whole frame at every token gives attention a direct reason to find the object from high
    # noise, where the flow loss alone rewards it only weakly.
    "linear-dit-offsets": (BANDED, BANDED_SETTINGS | dict(layout_offsets=True)),
    # linear-dit-banded with a quarter of each clip's tokens shown as pure noise (t = 1) and flagged
    # (research/training/token_masking.py). A masked token's own values say nothing, so its loss falls only as
    # the DiT learns to read the other tokens and the caption, at every noise level: the attention that
    # deciding the layout jointly needs, and that the flow loss alone rewards only in a narrow band of times.
    "linear-dit-masked": (BANDED, BANDED_SETTINGS | dict(mask_ratio=0.25)),
    # The same with masks drawn toward objects (about half an object's tokens masked, against a quarter): after 10
    # minutes of uniform masks from linear-dit-velocity's weights, a masked token is filled with its frame's background
    # (its error fell from 3.3 to 0.5) but the hidden half of a ball is not drawn, although the other half and the
    # frames either side show it.
    "linear-dit-masked-objects": (BANDED, BANDED_SETTINGS | MASKED_OBJECTS),
    # linear-dit-banded with a depthwise 3x3x3 convolution over the token grid in every block (DiTSpec.local_kernel,
    # SANA's Mix-FFN). A token then reads its neighbours' evidence from the first step instead of waiting for attention
    # to learn it, so the tokens an object spans can decide together; six blocks reach 13x13 tokens, a whole frame.
    "linear-dit-local": (LOCAL, BANDED_SETTINGS),
    # Both of round six's (docs/sora-mini-bakeoff.md): neighbours read from the first step, and masks drawn toward
    # objects, whose hidden parts only agreement with the visible ones can find.
    "linear-dit-local-masked": (LOCAL, BANDED_SETTINGS | MASKED_OBJECTS),
    # A token a whole preview frame: 5x9 cells (72x40 pixels, 1,440 values; a full 16:9 frame is 2x2 tokens, other
    # aspects pad). Every sora-mini DiT so far denoises each token alone (token_reach.py), so here the token is
    # the frame: deciding where its one object goes is the token's own network's job, and attention is left
    # with time. 13 to 52 tokens a clip, so a step is mostly rendering. No layout head: what lies under a
    # frame-sized token is what the caption says. It predicts the clean clip (JiT): a token of 1,440 values
    # read out of 384 hidden ones cannot carry the noise a velocity holds (predicting the velocity, it still
    # drew cell noise after 20 budget minutes), where the clean frame lies near a low-dimensional set.
    "linear-dit-frames": (replace(BANDED, dit=replace(LINEAR_DIT.dit, patch=(1, 5, 9), dim=384, heads=6)),
                          BANDED_SETTINGS | dict(layout_weight=0.0)),
    # linear-dit-velocity with tokens of 4x4 cells (32x32 pixels, 512 values): an object of the world (8-24
    # pixels) fits in one or two tokens instead of spreading over four to nine that each decide alone whether
    # they hold it, and a step has a quarter of the tokens.
    "linear-dit-coarse": (replace(LINEAR_VELOCITY, dit=replace(LINEAR_VELOCITY.dit, patch=(1, 4, 4))),
                          LINEAR_SETTINGS),
    # linear-dit-banded trained and sampled from noise half of whose variance is a smooth field (noise.py): Gaussian
    # bumps about an object's size (0.1 of the frame's shorter side) that drift slowly over frames. Round six's ways of
    # teaching tokens to read each other learned slowly because, under white noise, a token's own values are nearly
    # all it needs: reading its neighbours lowers the loss only a little. Under shared noise a token cannot tell an
    # object from a bump of noise without them, so the loss itself asks for agreement at every time, and from pure
    # noise neighbouring tokens lean the same way.
    "linear-dit-smooth": (replace(BANDED, noise=SMOOTH), BANDED_SETTINGS),
    # The same with round six's local mixing, which reads the neighbours that the shared noise asks for from the
    # first step on.
    "linear-dit-local-smooth": (replace(LOCAL, noise=SMOOTH), BANDED_SETTINGS),
    # linear-dit-velocity (the fewest pieces an object is drawn in of the linear candidates) on the world with a
    # camera (docs/world.md, "Camera and cuts"): a fifth of the scenes pan, zoom or follow, and half of those cut
    # once instead, so storyboards' cuts can keep their objects (issue 22).
    "linear-dit-camera": (replace(LINEAR_VELOCITY, trained_for=("generate", "animate", "extend", "loop", "cut")),
                          LINEAR_SETTINGS | dict(world=WorldMix(camera=0.2, cut=0.5))),
    # Round eight: a frame is one token (FRAME_DIT). Seven rounds found every DiT on a grid of tokens a local denoiser
    # that draws an object as a patchwork; here the layout is decided inside one token, as scene latents, and a
    # learned decoder draws them. The autoencoder trains first (20 budget minutes, 32 single frames a step, both
    # halves supervised by the renderer's scene latents); the DiT then trains on exact latents with no encoder pass,
    # 49 tokens a 2 s clip instead of 585, so a step takes 24 clips (48 at preview sizes).
    # From round nine, a fifth of its scenes have a camera (half of them cut), which scene latents show as the marks'
    # lattice and the objects where the frame shows them.
    "frame-dit": (FRAME_DIT, FRAME_SETTINGS),
    # The same with the glue words kept in camera scenes' captions (round twelve's comparison).
    "frame-dit-camera-glue": (FRAME_DIT, FRAME_SETTINGS | dict(camera_keeps_glue=True)),
    # Round thirteen: storyboards. A storyboard's continue shot may start a pan or zoom that the shot before did not
    # have, over marks that a still camera showed there ("..., as the camera holds still"): a camera in a third of the
    # scenes, and of those not cut, some hold still and some start their move right after the frames given.
    "frame-dit-storyboard": (FRAME_DIT, FRAME_SETTINGS | dict(world=WorldMix(camera=0.35, cut=0.45, still=0.15,
                                                                            late=0.4))),
    # Round fourteen: a storyboard's cut shot is always a continuation of the shot before, which frame-dit-storyboard
    # trains on 2% of its clips (a cut clip's conditioning was drawn as any clip's): here 60% of cut clips are, and a
    # camera in two fifths of the scenes, half of whose pans and zooms start late: about 12% of the clips cut right
    # after frames given and 7% start a move there. Binding failed on motion alone wherever the world's own clips
    # pass it (v16: a riser that drifts sideways as the other object circles, a still one that drifts), so two
    # objects in 45% of the scenes instead of 30%.
    "frame-dit-shots": (FRAME_DIT, FRAME_SETTINGS | dict(world=WorldMix(two_objects=0.45, camera=0.4, cut=0.45,
                                                                       still=0.15, late=0.5, cut_continues=0.6))),
    # Round fifteen: a two-object close-up must pick the named object of two, which v17 does in 4 of 20
    # (benchmarks/closeups.py), so more of them (TWO_CUTS_WORLD). v18 is v17 + 25 budget minutes of it.
    "frame-dit-two-cuts": (FRAME_DIT, FRAME_SETTINGS | dict(world=TWO_CUTS_WORLD)),
    # Round sixteen: the same world with a token for each object slot beside the frame's (DiTSpec.part_tokens), so a
    # slot reads its own phrase and follows its own track: binding fails on motion that one object takes from the
    # other (benchmarks/binding.py), and a close-up must find the object its words name among two.
    "frame-dit-slots": (SLOT_DIT, FRAME_SETTINGS | dict(world=TWO_CUTS_WORLD)),
    # Round seventeen: the same world with a close-up's object in slot 0 (scene_latents.close_up_first), so a
    # close-up centres slot 0 and its words only say which object that is.
    "frame-dit-close-first": (FRAME_DIT, FRAME_SETTINGS | dict(world=TWO_CUTS_WORLD, close_ups_first=True)),
    # Round eighteen: the joins v19's storyboards miss, which its world never showed. A cut in a scene with no
    # camera said: the world cut only scenes with marks, and on the eval's 48 storyboards v19's cuts are clean in 15
    # of 16 that have marks against 17 of 30 that have none (the framing after the cut drifts, unanchored). And a
    # pan or zoom after a shot that panned, zoomed or cut: v19 learnt moves only from a still camera, and after a
    # close-up it zooms back out as it pans (3 of its 8 camera misses), after a pan or a close-up it zooms too slowly
    # to read (4 more). JOINS_WORLD has both.
    "frame-dit-joins": (FRAME_DIT, FRAME_SETTINGS | dict(world=JOINS_WORLD, close_ups_first=True)),
    # Round ten: v12's DiT (frame-dit until then) sampled from noise a tenth white, new every frame. Its samples
    # jittered (a centre's mean second difference over frames 0.031, more than an object moves a frame); on noise
    # that only drifts they jitter a third as much, which is now SORA_MINI's (so frame-dit's) noise.
    "frame-dit-v12": (replace(FRAME_DIT, noise=NoiseSpec(smooth=0.9, width=0.1, frame_corr=0.98)), FRAME_SETTINGS),
}


def recipe(name: str) -> tuple[ModelSpec, dict]:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe '{name}' (known: {', '.join(RECIPES)})")
    spec, settings = RECIPES[name]
    return replace(spec), dict(settings)
