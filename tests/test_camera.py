"""The world's camera and cuts: rendered, captioned, and judged back from the pixels."""

import json
import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sora_cli.research.world import camera_checker
from sora_cli.research.world.camera import Camera, mark_colour
from sora_cli.research.world.captions import CAMERA_TEMPLATES, CUT_TEMPLATES, caption, vocabulary
from sora_cli.research.world.render import render
from sora_cli.research.world.scene import Scene, Thing, random_scene
from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS

SIZE = (112, 64)
PAIR = (Thing("red", "circle", "medium", "right", None, (0.25, 0.5)),
        Thing("blue", "square", "small", "still", None, (0.7, 0.4)))


def scene(camera: Camera | None, things=PAIR, bg="sand") -> Scene:
    return Scene(bg, things, False, (True,) * len(things), camera)


def test_without_a_camera_nothing_changes_and_with_one_the_world_has_marks():
    plain = render(scene(None), *SIZE, 4).numpy()
    colours = {tuple(c) for c in plain.reshape(-1, 3)}
    assert tuple(mark_colour(BACKGROUNDS["sand"])) not in colours
    still = render(scene(Camera("still")), *SIZE, 4).numpy()
    marks = np.abs(still.astype(int) - np.array(mark_colour(BACKGROUNDS["sand"]))).sum(-1) < 6
    assert 0.01 < marks.mean() < 0.1
    # objects are drawn over the marks: their insides are as without a camera
    inside = (plain == np.array(OBJECT_COLOURS["red"])).all(-1)
    assert inside.sum() > 100 and (still[inside] == plain[inside]).all()


@pytest.mark.parametrize("move", ["pan left", "pan right", "zoom in", "zoom out", "follow"])
def test_each_camera_move_is_judged_from_the_pixels_and_a_wrong_one_is_caught(move):
    things = PAIR
    if move.startswith("zoom"):  # zooms keep their objects near the centre (scene.py)
        things = (replace(PAIR[0], motion="still", start=(0.4, 0.5)), replace(PAIR[1], size="medium"))
    truth = scene(Camera(move, target=0), things)
    frames = render(truth, *SIZE, 48).numpy()
    result = camera_checker.check(frames, truth)
    assert result["camera"], result
    assert result["0.motion"] and result["1.motion"], result  # objects judged with the camera undone
    other = {"pan left": "pan right", "pan right": "pan left", "zoom in": "zoom out", "zoom out": "zoom in",
             "follow": "pan left"}[move]
    assert not camera_checker.check(frames, replace(truth, camera=Camera(other)))["camera"]


def test_a_still_camera_is_not_taken_for_a_move():
    truth = scene(Camera("still"))
    assert camera_checker.check(render(truth, *SIZE, 48).numpy(), truth)["camera"]


@pytest.mark.parametrize("framing", ["close", "wide"])
def test_a_cut_is_found_where_it_is_and_the_objects_keep_their_identity(framing):
    truth = scene(Camera("still", target=0, cut_at=1.0, cut_to=framing))
    frames = render(truth, *SIZE, 48).numpy()
    assert camera_checker.cuts(frames) == [24]
    result = camera_checker.check(frames, truth)
    assert all(result.values()), result
    assert camera_checker.cuts(render(scene(Camera("follow")), *SIZE, 48).numpy()) == []


def test_a_cut_to_other_objects_loses_identity():
    truth = scene(Camera("still", target=0, cut_at=1.0, cut_to="wide"))
    frames = render(truth, *SIZE, 48).numpy()
    impostor = scene(Camera("still", target=0, cut_at=1.0, cut_to="wide"),
                     (replace(PAIR[0], colour="green", shape="triangle"), PAIR[1]))
    frames[24:] = render(impostor, *SIZE, 48).numpy()[24:]
    result = camera_checker.check(frames, truth)
    assert result["cut"] and not result["identity"], result


def test_checker_agrees_with_the_renderer_on_random_camera_scenes():
    rng = random.Random(4)
    correct, total = Counter(), Counter()
    for _ in range(16):
        truth = random_scene(rng, two_objects=0.3, camera=1.0, cut=0.4)
        frames = render(truth, *rng.choice([(112, 64), (64, 112)]), 48).numpy()
        for key, ok in camera_checker.check(frames, truth).items():
            total[key.split(".")[-1]] += 1
            correct[key.split(".")[-1]] += ok
    assert sum(correct.values()) / sum(total.values()) > 0.9, {k: correct[k] / total[k] for k in total}


def test_camera_captions_hold_out_their_last_templates_and_use_known_words():
    rng = random.Random(5)
    words = set(vocabulary())
    held = [CAMERA_TEMPLATES[-1].split("{c}")[1].split("{")[0].strip(), "the shot cuts"]
    assert held[0] == "with the camera" and "the shot cuts" in CUT_TEMPLATES[-1]
    seen = Counter()
    for _ in range(400):
        truth = random_scene(rng, camera=1.0, cut=0.3)
        text = caption(truth, rng)
        assert not any(h in text for h in held), text
        assert set(re.findall(r"[a-z0-9]+", text)) <= words
        assert "camera" in text or "cut" in text, text
        seen["cut" if truth.camera.cut_at is not None else truth.camera.move] += 1
    assert len(seen) == 6  # every move and the cut
    assert any(h in caption(truth, rng, held_out=True) for h in held)


def test_the_camera_words_come_after_the_shipped_models_words():
    shipped = json.loads((Path(__file__).parents[1] / "weights" / "sora-mini" / "vocab.json").read_text())
    assert vocabulary()[:len(shipped)] == shipped


def test_scenes_without_a_camera_are_drawn_as_before():
    # no camera share: no extra random draw, so the seeded held-out prompt sets stay the same
    a, b = random.Random(7), random.Random(7)
    assert [random_scene(a) for _ in range(20)] == [random_scene(b, camera=0.0) for _ in range(20)]
    assert a.random() == b.random()
    assert all(s.camera is None for s in (random_scene(a) for _ in range(50)))


def test_training_batches_take_camera_scenes_with_cuts_in_their_window():
    from sora_cli.research.training.data import WorldMix, captions_for, clip_batch
    from sora_cli.research.training.recipes import recipe
    from sora_cli.research.world.vocab import FPS

    for name in ("linear-dit-camera", "frame-dit"):
        spec, settings = recipe(name)
        assert settings["world"].camera > 0 and "cut" in spec.trained_for
        batch = clip_batch(random.Random(0), spec, 24, 17, (64, 48), max_offset=3.0,
                           world=WorldMix(camera=1.0, cut=1.0))
        assert all(s.camera is not None and s.camera.cut_at is not None for s in batch.scenes)
        assert "first_k" in batch.cond and set(batch.cond) - {"first_k"}
        tf = spec.vae.temporal_factor
        for scene, mode, k, start in zip(batch.scenes, batch.cond, batch.cond_latents, batch.starts):
            if mode == "first_k":  # extending a shot: the cut comes right after the frames given, as a storyboard's
                assert start + (1 + tf * (k - 1)) / FPS == pytest.approx(scene.camera.cut_at)
            else:  # the cut stays where its caption puts it
                assert start == 0.0
        assert all("cut" in text for text in captions_for(batch.scenes, random.Random(1), 0.0))
        plain = clip_batch(random.Random(0), spec, 8, 9, (64, 48))
        assert all(s.camera is None for s in plain.scenes)


def test_cut_continues_trains_that_share_of_cut_clips_as_continuations_cut_right_after_the_frames_given():
    from sora_cli.research.training.data import WorldMix, clip_batch
    from sora_cli.research.training.recipes import recipe
    from sora_cli.research.world.vocab import FPS

    spec, settings = recipe("frame-dit-shots")
    assert settings["world"].cut_continues > 0.5
    tf = spec.vae.temporal_factor

    def continued(share: float) -> float:
        batch = clip_batch(random.Random(3), spec, 200, 17, (64, 48), world=WorldMix(camera=1.0, cut=1.0,
                                                                                       cut_continues=share))
        for scene, mode, k, start in zip(batch.scenes, batch.cond, batch.cond_latents, batch.starts):
            if mode == "first_k":
                assert start + (1 + tf * (k - 1)) / FPS == pytest.approx(scene.camera.cut_at)
        return batch.cond.count("first_k") / len(batch.cond)

    assert continued(0.0) < 0.3 and 0.6 < continued(0.6) < 0.8 and continued(1.0) == 1.0


@pytest.mark.parametrize("move", ["pan left", "zoom in"])
def test_a_move_can_start_partway_after_a_still_camera(move):
    things = (replace(PAIR[0], motion="still", start=(0.4, 0.5)), replace(PAIR[1], size="medium"))
    late = scene(Camera(move, move_from=1.0), things)
    frames = render(late, *SIZE, 72).numpy()
    before, after = frames[:24], frames[24:]
    assert (before == render(scene(Camera("still"), things), *SIZE, 24).numpy()).all()
    assert camera_checker.check(before, replace(late, camera=Camera("still")))["camera"]
    moved = camera_checker.check(after, replace(late, camera=Camera(move)))
    assert moved["camera"], moved
    # from its start on, the move is the one a camera moving from the first frame makes
    assert (after[:24] == render(scene(Camera(move), things), *SIZE, 24).numpy()).all()


@pytest.mark.parametrize("before,move", [("close", "pan right"), ("wide", "zoom in"), ("pan left", "zoom out"),
                                         ("zoom in", "pan left")])
def test_a_move_can_start_from_the_view_another_move_or_a_cut_left(before, move):
    things = (replace(PAIR[0], motion="still", start=(0.4, 0.5)), replace(PAIR[1], size="medium"))
    late = scene(Camera(move, target=1, move_from=1.0, before=before), things)
    frames = render(late, *SIZE, 72).numpy()
    if before in ("close", "wide"):  # until the move, the framing a cut to it shows
        cut = scene(Camera("still", target=1, cut_at=0.0, cut_to=before), things)
        assert (frames[:24] == render(cut, *SIZE, 24).numpy()).all()
    else:  # until the move, the other move
        assert (frames[:24] == render(scene(Camera(before), things), *SIZE, 24).numpy()).all()
        assert camera_checker.check(frames[:24], scene(Camera(before), things))["camera"]
    # the move starts from where the view was: no jump at its start, and it reads as the move asked for
    step = [np.abs(frames[i + 1].astype(int) - frames[i]).mean() for i in range(20, 28)]
    assert max(step) < 3 * np.median(step) + 1
    assert camera_checker.check(frames[24:48], replace(late, camera=Camera(move)))["camera"]


def test_a_cut_without_marks_shows_only_in_the_objects_and_its_latents_keep_the_framing():
    from sora_cli.models.mini.frame_latents import BACKGROUND, MARKS, SPACING
    from sora_cli.research.training.scene_latents import scene_latents

    cut = Camera("still", target=1, cut_at=0.5, cut_to="close")
    marked, unmarked = scene(cut), scene(replace(cut, marks=False))
    frames = render(unmarked, *SIZE, 24).numpy()
    assert (frames[:12] == render(scene(None), *SIZE, 12).numpy()).all()  # no marks: the world without a camera
    assert (frames[12:] != render(marked, *SIZE, 24).numpy()[12:]).any()  # the same framing, less its marks
    assert camera_checker.cuts(frames) == [12]
    a, b = scene_latents(marked, *SIZE, 24), scene_latents(unmarked, *SIZE, 24)
    assert (a[:, MARKS] == 1).all() and (b[:, MARKS] == -1).all()
    assert (a[:, SPACING] == b[:, SPACING]).all() and b[12, SPACING] > b[11, SPACING]  # the close-up's zoom, kept
    assert (a[:, BACKGROUND:] == b[:, BACKGROUND:]).all()


def test_a_background_a_level_off_its_colour_is_not_read_as_marks():
    # a model draws a scene without marks on a background a level or two off the world's colour
    frames = render(scene(None, bg="sky"), *SIZE, 24).numpy()
    off = np.clip(frames.astype(int) - 2, 0, 255).astype(np.uint8)
    steps = camera_checker.camera_steps(off, "sky", False)
    assert (steps == [1.0, 0.0, 0.0]).all() and camera_checker.cuts(off) == []
    # marks still read as marks on such a background: a pan
    pan = np.clip(render(scene(Camera("pan left")), *SIZE, 24).numpy().astype(int) - 2, 0, 255).astype(np.uint8)
    assert camera_checker.camera_move(camera_checker.camera_path(pan, "sand", False), None, min(SIZE)) == "pan left"


def test_late_moves_after_moves_and_unmarked_cuts_come_only_where_the_world_asks():
    from sora_cli.research.training.data import WorldMix, training_scenes
    from sora_cli.research.world.camera import BEFORE

    def befores(after_move):
        world = WorldMix(camera=1.0, cut=0.0, late=1.0, after_move=after_move)
        return Counter(s.camera.before for s in training_scenes(random.Random(0), 300, world)
                       if s.camera.move_from)

    assert set(befores(0.0)) == {"still"}
    mixed = befores(0.7)
    assert set(mixed) == set(BEFORE) and 0.2 < mixed["still"] / sum(mixed.values()) < 0.4

    def unmarked(share):
        world = WorldMix(camera=1.0, cut=1.0, unmarked=share)
        return sum(not s.camera.marks for s in training_scenes(random.Random(0), 200, world)) / 200

    assert unmarked(0.0) == 0.0 and 0.4 < unmarked(0.5) < 0.6


def test_training_batches_start_late_moves_right_after_the_frames_given_and_caption_still_cameras():
    from sora_cli.research.training.data import WorldMix, captions_for, clip_batch
    from sora_cli.research.training.recipes import recipe
    from sora_cli.research.world.vocab import CAMERA_PHRASES, FPS

    spec, settings = recipe("frame-dit-storyboard")
    world = settings["world"]
    assert world.still > 0 and world.late > 0
    batch = clip_batch(random.Random(0), spec, 200, 17, (64, 48), max_offset=3.0,
                       world=WorldMix(camera=1.0, cut=0.0, still=0.2, late=0.6))
    late = [(s, mode, k, start) for s, mode, k, start in zip(batch.scenes, batch.cond, batch.cond_latents, batch.starts)
            if s.camera.move_from]
    stills = [s for s in batch.scenes if s.camera.move == "still"]
    assert len(late) > 20 and len(stills) > 10
    for s, mode, k, start in late:  # a continuation whose move starts right after its given frames
        assert s.camera.move in ("pan left", "pan right", "zoom in", "zoom out")
        assert mode == "first_k" and start + k / FPS == pytest.approx(s.camera.move_from)
    said = [p for pair in CAMERA_PHRASES["still"] for p in pair]
    for text in captions_for(stills, random.Random(1), 0.0):
        assert any(p in text for p in said), text
    # without those shares no camera holds still without a cut, and every move starts with the clip
    plain = [random_scene(random.Random(i), camera=1.0, cut=0.3).camera for i in range(100)]
    assert all(c.move_from == 0.0 and (c.move != "still" or c.cut_at is not None) for c in plain)


@pytest.mark.parametrize("move", ["pan left", "pan right", "zoom in", "zoom out"])
def test_a_one_second_shot_is_judged_on_its_share_of_the_worlds_move(move):
    things = (replace(PAIR[0], motion="still", start=(0.4, 0.5)), replace(PAIR[1], size="medium"))
    still = scene(Camera("still"), things)
    frames = render(scene(Camera(move), things), *SIZE, 24).numpy()
    assert camera_checker.check(frames, scene(Camera(move), things))["camera"]
    assert camera_checker.check(render(still, *SIZE, 24).numpy(), still)["camera"]
    # half the world's speed is still a move; a third of it is not
    for speed, moved in ((0.5, True), (0.3, False)):
        slow = frames[np.round(np.arange(24) * speed).astype(int)]
        assert camera_checker.check(slow, scene(Camera(move), things))["camera"] == moved, speed
