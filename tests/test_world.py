"""The sora-mini world: renderer, captions, checker, and one step of each training stage."""

import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from sora_cli.research.world.captions import (
    DOUBLE,
    HELD_OUT_DOUBLE,
    HELD_OUT_SINGLE,
    SINGLE,
    caption,
    is_held_out,
    vocabulary,
)
from sora_cli.research.world.checker import check
from sora_cli.research.world.render import render
from sora_cli.research.world.scene import Scene, Thing, random_scene
from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS, luma


def one(colour="red", shape="square", size="large", motion="still", bg="sand", bw=False, start=(0.5, 0.5)):
    return Scene(bg, (Thing(colour, shape, size, motion, None, start),), bw, (True,))


def test_flat_colours_from_the_spec_with_anti_aliased_edges():
    frames = render(one(), 160, 90, 2).numpy()
    assert tuple(frames[0, 45, 80]) == OBJECT_COLOURS["red"]
    assert tuple(frames[0, 2, 2]) == BACKGROUNDS["sand"]
    row = frames[0, 45].astype(int)
    edge = [x for x in range(1, 160) if (row[x] != row[x - 1]).any()]
    between = [x for x in edge if not ((row[x] == OBJECT_COLOURS["red"]).all() or (row[x] == BACKGROUNDS["sand"]).all())]
    assert between, "edges should have intermediate (anti-aliased) pixels"


def test_sizes_are_fractions_of_the_shorter_side_at_any_aspect():
    for w, h in ((160, 90), (90, 160), (120, 120)):
        frames = render(one(bg="black", colour="white", size="medium"), w, h, 1).numpy()
        side = (frames[0].mean(-1) > 128).sum() ** 0.5
        assert side == pytest.approx(0.18 * min(w, h), rel=0.1)


def test_triangle_points_up_and_black_and_white_is_grey():
    frames = render(one(shape="triangle", bg="white", colour="blue"), 100, 100, 1).numpy()[0]
    mask = frames.mean(-1) < 200
    rows = np.flatnonzero(mask.any(1))
    assert mask[rows[0]].sum() < mask[rows[-1]].sum()  # narrow at the top, wide at the base
    grey = render(one(bw=True, bg="black", colour="yellow"), 64, 64, 3).numpy()
    assert (grey.max(-1) == grey.min(-1)).all()


def test_motions_move_the_way_the_words_say():
    def centroid(scene):
        frames = render(scene, 128, 72, 48).numpy().astype(int)
        mask = np.abs(frames - np.array(BACKGROUNDS["sand"])).sum(-1) > 60
        ys, xs = np.mgrid[0:72, 0:128]
        return [(xs[m].mean(), ys[m].mean(), m.sum()) for m in mask[[0, -1]]]

    (x0, y0, a0), (x1, y1, a1) = centroid(one(motion="right", start=(0.2, 0.5), size="small"))
    assert x1 - x0 > 0.5 * 72 and abs(y1 - y0) < 1
    (x0, y0, _), (x1, y1, _) = centroid(one(motion="up", start=(0.5, 0.8), size="small"))
    assert y0 - y1 > 0.5 * 72
    (_, _, a0), (_, _, a1) = centroid(one(motion="grows", size="small"))
    assert a1 >= 2 * a0


def test_random_scenes_keep_the_spec_rules():
    rng = random.Random(0)
    for _ in range(300):
        scene = random_scene(rng)
        for thing in scene.things:
            assert thing.colour != scene.background
            if scene.bw:
                assert abs(luma(OBJECT_COLOURS[thing.colour]) - luma(BACKGROUNDS[scene.background])) >= 60


def test_training_captions_never_use_held_out_templates():
    rng = random.Random(1)
    held = [SINGLE[i] for i in HELD_OUT_SINGLE] + [DOUBLE[i] for i in HELD_OUT_DOUBLE]
    markers = {"there is", "shot", "meanwhile"}
    assert all(any(m in t for m in markers) for t in held)
    for _ in range(500):
        text = caption(random_scene(rng), rng)
        assert not any(m in text for m in markers), text


def test_vocabulary_covers_every_caption_and_fits_the_model():
    from sora_cli.specs import SORA_MINI

    words = set(vocabulary())
    assert len(words) + 2 <= SORA_MINI.text.vocab_size
    rng = random.Random(2)
    for _ in range(300):
        scene = random_scene(rng)
        for held in (False, True):
            assert set(re.findall(r"[a-z0-9]+", caption(scene, rng, held).lower())) <= words


def test_held_out_pairs_are_recognised():
    scene = Scene("sand", (Thing("purple", "triangle", "small", "still", None, (0.5, 0.5)),), False, (True,))
    assert is_held_out(scene)


def test_checker_agrees_with_the_renderer_at_the_models_working_size():
    rng = random.Random(3)
    correct, total = Counter(), Counter()
    for _ in range(60):
        scene = random_scene(rng)
        w, h = rng.choice([(144, 80), (112, 112), (80, 144), (128, 96)])
        for key, ok in check(render(scene, w, h, 48).numpy(), scene).items():
            total[key.split(".")[-1]] += 1
            correct[key.split(".")[-1]] += ok
    assert sum(correct.values()) / sum(total.values()) > 0.9
    assert all(correct[k] / total[k] > 0.8 for k in total), {k: correct[k] / total[k] for k in total}


def test_checker_catches_wrong_attributes():
    scene = one(colour="red", shape="square", size="large", motion="right", start=(0.2, 0.5))
    frames = render(scene, 144, 80, 48).numpy()
    wrong = Scene("sky", (Thing("blue", "circle", "small", "left", "right", (0.2, 0.5)),), False, (True,))
    assert not any(check(frames, wrong).values())
    assert all(check(frames, scene).values())


def test_one_step_of_each_training_stage_runs_on_a_tiny_spec(tmp_path):
    from dataclasses import replace

    from conftest import TINY

    from sora_cli.models.mini.network import VideoModel
    from sora_cli.models.mini.tokenizer import WordTokenizer
    from sora_cli.research.training import checkpoint, loop
    from sora_cli.research.training.data import working_sizes
    from sora_cli.specs import TextSpec

    spec = replace(TINY, text=TextSpec(vocab_size=256, dim=32, depth=1, heads=2, max_tokens=40))
    net = VideoModel(spec)
    rng = random.Random(0)
    vae_opt = torch.optim.AdamW(net.vae.parameters(), lr=1e-3)
    dit_opt = torch.optim.AdamW(list(net.dit.parameters()) + list(net.text.parameters()), lr=1e-3)
    assert np.isfinite(loop.vae_step(net, vae_opt, rng, spec, "cpu"))
    loop.measure_latent_stats(net, spec, rng, "cpu")
    assert (net.vae.latent_std > 0).all()
    before = net.dit.proj_out.weight.clone()
    cfg = loop.TrainConfig(spec, tmp_path, 1, 0)
    loss = loop.dit_step(net, dit_opt, rng, cfg, WordTokenizer(vocabulary()), "cpu", working_sizes(spec))
    assert np.isfinite(loss) and not torch.equal(before, net.dit.proj_out.weight)
    import copy

    checkpoint.save(tmp_path, net, copy.deepcopy(net), {"vae": vae_opt, "dit": dit_opt}, {"dit_steps": 1})
    fresh = VideoModel(spec)
    opts = {"vae": torch.optim.AdamW(fresh.vae.parameters()),
            "dit": torch.optim.AdamW(list(fresh.dit.parameters()) + list(fresh.text.parameters()))}
    assert checkpoint.load(tmp_path, fresh, VideoModel(spec), opts) == {"dit_steps": 1}
    assert torch.equal(fresh.dit.proj_out.weight, net.dit.proj_out.weight)
    assert len(opts["dit"].state) == len(dit_opt.state)


def test_latent_pool_reuses_encoded_batches_about_as_often_as_asked():
    from sora_cli.research.training.latent_pool import LatentPool

    pool = LatentPool(reuse=4, capacity=3)
    rng = random.Random(0)
    assert not pool.reuse_now(rng)  # nothing to reuse yet
    for i in range(5):
        pool.add(i)
    assert list(pool.items) == [2, 3, 4]  # the oldest go first
    share = sum(pool.reuse_now(rng) for _ in range(4000)) / 4000
    assert abs(share - 0.75) < 0.03
    assert {pool.draw(rng) for _ in range(100)} == {2, 3, 4}
    with pytest.raises(ValueError):
        LatentPool(reuse=0)


def test_dit_steps_with_a_pool_encode_once_and_train_on_every_step():
    from dataclasses import replace

    from conftest import TINY

    from sora_cli.models.mini.network import VideoModel
    from sora_cli.models.mini.tokenizer import WordTokenizer
    from sora_cli.research.training import loop
    from sora_cli.research.training.data import working_sizes
    from sora_cli.research.training.latent_pool import LatentPool
    from sora_cli.specs import TextSpec

    spec = replace(TINY, text=TextSpec(vocab_size=256, dim=32, depth=1, heads=2, max_tokens=40))
    net = VideoModel(spec)
    net.vae.requires_grad_(False)
    opt = torch.optim.AdamW(list(net.dit.parameters()) + list(net.text.parameters()), lr=1e-3)
    tok, sizes, rng = WordTokenizer(vocabulary()), working_sizes(spec), random.Random(0)
    pool = LatentPool(reuse=1000)  # after the first batch, (almost) every step reuses it
    cfg = loop.TrainConfig(spec, Path("unused"), 1, 0)
    weights = [net.dit.proj_out.weight.clone()]
    for _ in range(3):
        assert np.isfinite(loop.dit_step(net, opt, rng, cfg, tok, "cpu", sizes, pool=pool))
        weights.append(net.dit.proj_out.weight.clone())
    assert len(pool) == 1
    assert all(not torch.equal(a, b) for a, b in zip(weights, weights[1:]))
    batch = pool.items[0]
    assert batch.z.shape[0] == len(batch.scenes) == batch.strength.shape[0] == batch.objects.shape[0]


def test_eval_reports_every_figure_on_a_tiny_model(cli):
    import json

    r = cli("eval", "--model", cli.model, "--prompts", "2", "--modes", "1", "--long-seconds", "2", "--guidance", "2.5",
            "--guidance-interval", "0", "0.7", "--guidance-focus", "0.4", "--json")
    assert r.exit_code == 0, r.output

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(r.stdout, parse_constant=refuse)
    assert report["animate"]["frame0_psnr_db"] == "inf"  # the input image is frame 0 exactly
    assert report["settings"] == {"guidance": 2.5, "guidance_interval": [0.0, 0.7], "guidance_focus": 0.4, "steps": 3,
                                  "preview_steps": 2}
    for name in ("preview", "full"):
        for row in (name, f"{name}_checker_on_ground_truth", f"{name}_checker_on_vae_round_trip"):
            assert 0.0 <= report[row]["adherence"] <= 1.0
            assert 0.0 <= report[row]["adherence_se"] <= 0.5
        # the checker sees the world it was written for
        assert report[f"{name}_checker_on_ground_truth"]["adherence"] > 0.6
    assert set(report) >= {"animate", "extend", "loop", "v2v", "long"}
    assert report["long"]["windows_judged"] >= 1


def test_adherence_standard_error_is_the_spread_over_clips():
    from sora_cli.research.evaluation import Scores

    scene = random_scene(random.Random(0), two_objects=0.0)
    agree, split = Scores(Counter(), Counter()), Scores(Counter(), Counter())
    for ok in (True, True):
        agree.add({"colour": ok, "shape": ok}, scene)
    for ok in (True, False):
        split.add({"colour": ok, "shape": ok}, scene)
    assert agree.adherence_se == 0.0
    # 2/2 and 0/2: adherence 0.5, residuals +1 and -1 over 4 judged, times sqrt(2 / 1)
    assert split.adherence == 0.5 and split.adherence_se == 0.5
    assert split.row()["adherence_se"] == 0.5
    one = Scores(Counter(), Counter())
    one.add({"colour": True}, scene)
    assert one.adherence_se is None


def test_pieces_counts_the_patches_an_object_is_drawn_in():
    from dataclasses import replace

    from sora_cli.research.evaluation import pieces
    from sora_cli.research.world.vocab import OBJECT_COLOURS

    scene = random_scene(random.Random(3), two_objects=0.0)
    scene = replace(scene, bw=False, things=(replace(scene.things[0], motion="spins", size="large"),))
    whole = render(scene, 96, 64, 9).numpy()
    assert pieces(whole, scene) == 1.0
    # The same colour in three separate tiles on the background (a patchwork), and not at all.
    patchwork = np.repeat(whole[:1], 9, axis=0).copy()
    patchwork[:] = whole[0, 0, 0]
    for x in (4, 40, 76):
        patchwork[:, 20:36, x:x + 16] = OBJECT_COLOURS[scene.things[0].colour]
    assert pieces(patchwork, scene) == 3.0
    patchwork[:] = whole[0, 0, 0]
    assert pieces(patchwork, scene) is None


def test_eval_refuses_an_empty_guidance_interval(cli):
    r = cli("eval", "--model", cli.model, "--prompts", "1", "--guidance-interval", "0.7", "0.2")
    assert r.exit_code == 3
    assert "LO must not exceed HI" in r.output and "Traceback" not in r.output


def test_foreground_mask_finds_the_objects_and_pools_onto_latents():
    from dataclasses import replace

    from sora_cli.frames import to_model
    from sora_cli.research.training.data import foreground, latent_grid

    scene = random_scene(random.Random(3), two_objects=0.0, bw=0.0)
    scene = replace(scene, things=(replace(scene.things[0], size="large", motion="still"),))
    frames = render(scene, 144, 80, 9)
    mask = foreground(to_model(frames).transpose(0, 1)[None])[0, 0]  # (T, H, W)
    bg = np.array(BACKGROUNDS[scene.background], dtype=float)
    off = np.abs(frames.numpy().astype(float) - bg).max(-1) > 10
    assert mask.numpy()[off].mean() == 1.0  # every object pixel is weighted up
    assert 0.01 < mask.float().mean() < 0.3  # and the background is not
    grid = latent_grid(mask[None, None], 4, 8)
    assert grid.shape == (1, 1, 3, 10, 18) and 0 < grid.mean() < 0.5


def test_autoencoder_trains_on_whole_windows():
    """The autoencoder's reach spans a whole window, so it behaves differently at every
    distance from a clip's start: training clips must be as long as the windows the engine
    codes, or it drifts further into them (sora-mini v2, trained on 9-frame clips, did)."""
    from sora_cli.models.mini.vae import VideoAutoencoder
    from sora_cli.research.training.loop import VAE_CLIPS
    from sora_cli.research.training.recipes import LATENT_DIT

    torch.manual_seed(0)
    vae = VideoAutoencoder(LATENT_DIT.vae).eval()
    frames = LATENT_DIT.window_frames
    video = torch.rand(1, 3, frames, 16, 16) * 2 - 1
    moved = video.clone()
    moved[:, :, 0] = -moved[:, :, 0]
    with torch.no_grad():
        change = (vae.decode(vae.encode(video)) - vae.decode(vae.encode(moved))).abs().amax(dim=(0, 1, 3, 4))
    assert change[-1] > 1e-6, "frame 0 should reach a window's last frame"
    assert max(f for f, _ in VAE_CLIPS) >= frames


def test_eval_with_no_conditioned_modes_leaves_their_rows_out(cli):
    import json
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "mean of empty slice"
        r = cli("eval", "--model", cli.model, "--prompts", "1", "--modes", "0", "--long-seconds", "0", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert {"preview", "full"} <= set(report)
    assert not set(report) & {"animate", "extend", "loop", "v2v", "long"}
    assert cli("eval", "--model", cli.model, "--modes", "-1").exit_code == 2


def test_training_captions_can_leave_out_the_words_that_join_their_phrases():
    from sora_cli.research.training.data import GLUE, captions_for
    from sora_cli.research.world.vocab import COLOUR_SYNONYMS

    # the joining words of the training templates only: the held-out template's "meanwhile" is never trained on
    assert {"while", "and", "as", "with", "background"} <= GLUE and "meanwhile" not in GLUE
    assert not GLUE & {w for words in COLOUR_SYNONYMS.values() for w in words}
    scenes = [random_scene(random.Random(i), two_objects=1.0) for i in range(60)]
    plain = captions_for(scenes, random.Random(5), 0.0)
    dropped = captions_for(scenes, random.Random(5), 0.0, drop_glue=0.5)
    left_out = Counter()
    for full, short in zip(plain, dropped):
        words = full.split(" ")
        kept = short.split(" ")
        # what is left is the caption with some glue words taken out, in order
        it = iter(words)
        assert all(any(w == k for w in it) for k in kept)
        left_out.update(w for w in set(words) if words.count(w) > kept.count(w))
    assert left_out and set(left_out) <= GLUE


def test_camera_captions_can_keep_their_glue_words():
    from sora_cli.research.training.data import captions_for

    scenes = [random_scene(random.Random(i), two_objects=0.5, camera=0.5) for i in range(60)]
    plain = captions_for(scenes, random.Random(5), 0.0)
    kept = captions_for(scenes, random.Random(5), 0.0, drop_glue=0.9, camera_keeps_glue=True)
    camera = [full == short for s, full, short in zip(scenes, plain, kept) if s.camera is not None]
    other = [full == short for s, full, short in zip(scenes, plain, kept) if s.camera is None]
    assert len(camera) >= 10 and all(camera)
    assert len(other) >= 10 and sum(other) < len(other) / 4
