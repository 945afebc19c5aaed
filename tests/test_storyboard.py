"""`sora storyboard`: shots joined by continue or cut in one clip, on the tiny random model."""

from __future__ import annotations

import json

import numpy as np
from conftest import psnr

from sora_cli.video_io import read_metadata, read_video

BOARD = """\
seed: 11
width: 128
height: 72
fps: 24
shots:
  - prompt: a red ball moves left
    seconds: 0.5
  - prompt: the red ball moves right
    seconds: 0.5
  - prompt: a blue box moves up
    seconds: 0.25
    join: cut
"""


def frames_of(path) -> np.ndarray:
    return read_video(path).frames[:].numpy()


def test_one_clip_of_every_shot_with_the_storyboard_in_its_metadata(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    r = cli("storyboard", "story.yaml", "--json", "-q", "-o", "story.mp4")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert [s["frames"] for s in result["shots"]] == [12, 12, 6]
    assert [s["join"] for s in result["shots"]] == ["cut", "continue", "cut"]
    assert [s["seed"] for s in result["shots"]] == [11, 12, 13]
    out = frames_of(cli.cwd / "story.mp4")
    assert out.shape == (30, 72, 128, 3)
    meta = read_metadata(cli.cwd / "story.mp4")
    assert meta["mode"] == "storyboard" and meta["storyboard"][2]["join"] == "cut"
    assert meta["command"].startswith("sora storyboard story.yaml --seed 11")
    r = cli("info", "story.mp4")
    assert r.exit_code == 0 and "storyboard" in r.output


def test_a_shot_alone_is_the_same_frames_as_in_the_whole_clip(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    assert cli("storyboard", "story.yaml", "-q", "-o", "all.mp4").exit_code == 0
    whole = frames_of(cli.cwd / "all.mp4")
    for n, (a, b) in ((2, (12, 24)), (3, (24, 30))):
        r = cli("storyboard", "story.yaml", "--shot", str(n), "-q", "-o", f"shot{n}.mp4")
        assert r.exit_code == 0, r.output
        alone = frames_of(cli.cwd / f"shot{n}.mp4")
        assert alone.shape[0] == b - a
        # the same frames (up to H.264 coding them in another context), and not just any frames
        assert min(psnr(x, y) for x, y in zip(alone, whole[a:b])) > 30
        assert min(psnr(x, y) for x, y in zip(alone, whole[:b - a])) < 25


def test_a_cut_shot_is_its_own_generate_command(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    r = cli("storyboard", "story.yaml", "--json", "-q", "-o", "s.mp4")
    assert r.exit_code == 0, r.output
    command = json.loads(r.stdout)["shots"][2]["command"]
    assert command.startswith("sora generate 'a blue box moves up' --seed 13") and "--frames 6" in command
    r = cli("generate", "a blue box moves up", "--seed", "13", "--width", "128", "--height", "72", "--fps", "24",
            "--frames", "6", "-q", "-o", "g.mp4")
    assert r.exit_code == 0, r.output
    assert min(psnr(x, y) for x, y in zip(frames_of(cli.cwd / "g.mp4"), frames_of(cli.cwd / "s.mp4")[24:])) > 30


def test_continue_starts_from_the_last_frames_and_a_cut_does_not(cli, monkeypatch):
    from sora_cli.engine import Engine

    starts = []
    chain = Engine.chain

    def recording(self, s, count, start=None, end=None, source=None, start_latents=None):
        starts.append(None if start is None else start.shape[0])
        return chain(self, s, count, start=start, end=end, source=source, start_latents=start_latents)

    monkeypatch.setattr(Engine, "chain", recording)
    (cli.cwd / "story.yaml").write_text(BOARD)
    assert cli("storyboard", "story.yaml", "-q", "-o", "s.mp4").exit_code == 0
    assert starts[0] is None and starts[1] is not None and starts[1] > 0 and starts[2] is None


def test_preview_is_smaller_and_faster_with_the_same_shots(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    r = cli("storyboard", "story.yaml", "--preview", "--json", "-q")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["output"].endswith("story-preview.mp4") and result["preview"] is True
    assert (result["width"], result["height"]) == (32, 18) and result["frames"] == 30  # a quarter each side


def test_bad_storyboards_name_every_problem_and_write_nothing(cli):
    bad = ("shots:\n  - prompt: a red ball\n    seconds: -1\n  - seconds: 2\n    join: dissolve\n    colour: red\n"
           "fps: 24\nmood: sad\n")
    (cli.cwd / "bad.yaml").write_text(bad)
    r = cli("storyboard", "bad.yaml", "-o", "bad.mp4")
    assert r.exit_code == 3
    line = r.output.strip().splitlines()[-1]
    for part in ("unknown key 'mood'", "shot 1: seconds must be", "shot 2: unknown key 'colour'",
                 "shot 2: needs a prompt", "join must be continue or cut"):
        assert part in line, line
    assert "Traceback" not in r.output and not (cli.cwd / "bad.mp4").exists()
    (cli.cwd / "first.yaml").write_text("shots:\n  - prompt: a ball\n    join: continue\n")
    r = cli("storyboard", "first.yaml")
    assert r.exit_code == 3 and "nothing to continue" in r.output
    (cli.cwd / "broken.yaml").write_text("shots: [\n")
    r = cli("storyboard", "broken.yaml")
    assert r.exit_code == 3 and "not valid YAML" in r.output
    r = cli("storyboard", "missing.yaml")
    assert r.exit_code == 3 and "not found" in r.output
    (cli.cwd / "story.yaml").write_text(BOARD)
    r = cli("storyboard", "story.yaml", "--shot", "4")
    assert r.exit_code == 3 and "has 3 shots" in r.output


def test_an_existing_output_is_kept(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    (cli.cwd / "s.mp4").write_bytes(b"mine")
    r = cli("storyboard", "story.yaml", "-o", "s.mp4")
    assert r.exit_code != 0 and (cli.cwd / "s.mp4").read_bytes() == b"mine"


def test_a_batch_item_renders_a_storyboard_as_the_command_does(cli):
    (cli.cwd / "story.yaml").write_text(BOARD)
    (cli.cwd / "jobs.jsonl").write_text('{"storyboard": "story.yaml"}\n{"prompt": "a red ball", "frames": 6, '
                                        '"width": 128, "height": 72}\n')
    r = cli("batch", "jobs.jsonl", "--out-dir", "out", "--json", "-q")
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)["items"]
    assert [i["mode"] for i in items] == ["storyboard", "generate"]
    assert items[0]["output"].endswith("0000-story.mp4") and items[0]["seed"] == 11  # the file's seed
    assert cli("storyboard", "story.yaml", "-q", "-o", "direct.mp4").exit_code == 0
    batch, direct = frames_of(cli.cwd / "out" / "0000-story.mp4"), frames_of(cli.cwd / "direct.mp4")
    assert batch.shape == direct.shape == (30, 72, 128, 3)
    assert min(psnr(x, y) for x, y in zip(batch, direct)) > 30
    assert read_metadata(cli.cwd / "out" / "0000-story.mp4")["storyboard"][1]["join"] == "continue"
    # resumed: the storyboard item is done, not made again
    r = cli("batch", "jobs.jsonl", "--out-dir", "out", "--json", "-q")
    assert r.exit_code == 0 and json.loads(r.stdout)["skipped"] == 2


def test_a_batch_storyboard_item_is_checked_before_anything_renders(cli):
    (cli.cwd / "bad.yaml").write_text("shots:\n  - prompt: a red ball\n    seconds: -1\n")
    (cli.cwd / "jobs.jsonl").write_text('{"prompt": "a red ball", "frames": 6}\n{"storyboard": "bad.yaml"}\n'
                                        '{"storyboard": "missing.yaml"}\n{"storyboard": "bad.yaml", "prompt": "x"}\n')
    r = cli("batch", "jobs.jsonl", "--out-dir", "out", "-q")
    assert r.exit_code == 3, r.output
    assert "jobs.jsonl:2" in r.output and "seconds must be" in r.output
    assert "jobs.jsonl:3" in r.output and "not found" in r.output
    assert "jobs.jsonl:4" in r.output and "no prompt" in r.output
    assert not (cli.cwd / "out").exists()


def test_a_model_trained_for_cuts_sees_the_shot_before_as_context():
    import torch

    from sora_cli.jobs import Job
    from sora_cli.storyboard import Shot, Storyboard, shot_job

    board = Storyboard((Shot("a red ball moves left", 1.0, "cut"), Shot("a close-up of the red ball", 1.0, "cut"),
                        Shot("cut to a wide shot", 1.0, "cut")), {})
    base = Job(mode="generate", prompt="", seed=5, model="m", width=64, height=48, fps=24.0, frames=1)
    before = torch.zeros(6, 48, 64, 3, dtype=torch.uint8)
    fresh = shot_job(base, board, 1, before)
    assert fresh.mode == "generate" and fresh.prompt == "a close-up of the red ball" and fresh.video is None
    seen = shot_job(base, board, 1, before, cuts_in_context=True)
    assert seen.mode == "extend" and seen.video.frames is before and seen.seed == 6 and seen.frames == 24
    assert seen.prompt == "a red ball moves left, then cut to a close-up of the red ball"
    assert shot_job(base, board, 2, before, True).prompt == "a close-up of the red ball, then cut to a wide shot"
    assert shot_job(base, board, 0, None, True).mode == "generate"


def test_eval_judges_storyboards_of_every_join(cli):
    r = cli("eval", "--model", cli.model, "--prompts", "1", "--modes", "0", "--long-seconds", "0", "--storyboards",
            "3", "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["storyboard"]
    assert row["storyboards"] == 3 and row["cuts"] + row["continue_joins"] >= 3
    for key in ("cut_is_cut", "cut_is_cut_true_clips", "identity_across_cuts", "continue_seams_under_1.5",
                "joins_without_a_move_under_1.5", "move_starts_under_1.5_of_their_pace", "camera"):
        assert row[key] is None or 0.0 <= row[key] <= 1.0


def test_the_worlds_own_cuts_say_which_cuts_the_checker_can_find():
    from sora_cli.research.storyboard_eval import _true_cut_is_cut
    from sora_cli.research.world.scene import Scene, Thing
    from sora_cli.storyboard import Shot

    def found(size, prompt, marks):
        ball = Scene("sand", (Thing("red", "circle", size, "still", None, (0.5, 0.5)),), False, (True,))
        asked = [("continue", "pan left")] if marks else []
        return _true_cut_is_cut(ball, Shot(prompt, 1.0, "cut"), [0], asked, (64, 112))

    assert found("small", "a close-up of the red ball", False) and found("large", "a wide shot", False)
    assert found("small", "a wide shot", True)  # the marks show the framing change
    assert not found("small", "a wide shot", False)  # without them, a small object shrinking is too little


def test_a_join_that_starts_a_move_is_judged_against_the_moves_pace():
    from sora_cli.research.storyboard_eval import _over_own_pace
    from sora_cli.research.world.camera import Camera
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import Scene, Thing

    box = Thing("red", "square", "medium", "still", None, (0.5, 0.5))
    pan = render(Scene("sand", (box,), False, (True,), Camera("pan left", move_from=1.0)), 112, 64, 48).numpy()
    assert _over_own_pace(pan, 24) < 1.5
    jumped = pan.copy()
    jumped[24:] = np.roll(pan[24:], 12, axis=2)  # the new shot starts a quarter frame off, then pans on
    assert _over_own_pace(jumped, 24) > 1.5


def test_identity_after_a_cut_is_judged_from_the_objects_shown():
    from sora_cli.research.storyboard_eval import _same_objects
    from sora_cli.research.world.camera import Camera
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import Scene, Thing

    ball = Thing("red", "circle", "large", "right", None, (0.3, 0.5))
    shot = render(Scene("sand", (ball,), False, (True,), Camera("still", 0, cut_at=0.0, cut_to="close")),
                  112, 64, 24).numpy()
    assert _same_objects(shot, [ball])
    assert not _same_objects(shot, [Thing("blue", "circle", "large", "right", None, (0.3, 0.5))])
    assert not _same_objects(shot, [Thing("red", "square", "large", "right", None, (0.3, 0.5))])


def test_eval_storyboards_with_a_camera_move_say_the_camera_holds_still_from_their_first_shot():
    from sora_cli.research.storyboard_eval import eval_storyboards
    from sora_cli.research.world.vocab import CAMERA_PHRASES

    still = [present for present, _ in CAMERA_PHRASES["still"]]
    boards = eval_storyboards(24)
    moved = [any(join == "continue" and move for join, move in asked) for _, _, asked, _ in boards]
    assert 0 < sum(moved) < len(boards)
    for (_, shots, asked, _), moves in zip(boards, moved):
        assert len(shots) == len(asked) + 1 and [s.join for s in shots[1:]] == [a[0] for a in asked]
        assert any(p in shots[0].prompt for p in still) == moves, shots[0].prompt
        assert not any(p in s.prompt for s in shots[1:] for p in still)
