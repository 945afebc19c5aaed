"""Every mode end to end through the real CLI on a tiny random model."""

import json

import numpy as np
import pytest
import torch
from conftest import make_video, moving_square, psnr

from sora_cli.engine import Engine
from sora_cli.plan import plan_clip
from sora_cli.render import render
from sora_cli.requests import Request, build_job
from sora_cli.video_io import read_metadata, read_video
from sora_cli.weights import load_model


def frames_of(path) -> np.ndarray:
    return read_video(path).frames[:].numpy()  # [:] reads a long file's middle too


@pytest.mark.parametrize("preset,size", [("16x9", (1920, 1080)), ("9x16-720p", (720, 1280)), ("21x9", (2560, 1080))])
def test_generate_matches_the_preset_size_fps_and_frame_count(cli, preset, size):
    r = cli("generate", "a red ball moves left", "--preset", preset, "--frames", "6", "--seed", "1", "-o", "c.mp4")
    assert r.exit_code == 0, r.output
    v = read_video(cli.cwd / "c.mp4")
    assert v.frames.shape == (6, size[1], size[0], 3) and v.fps == 24


def test_custom_size_fps_and_duration(cli):
    r = cli("generate", "a blue box", "--width", "200", "--height", "120", "--fps", "12", "--duration", "2",
            "-o", "c.mp4", "--json")
    assert r.exit_code == 0, r.output
    v = read_video(cli.cwd / "c.mp4")
    assert v.frames.shape == (24, 120, 200, 3) and v.fps == 12
    assert json.loads(r.stdout)["frames"] == 24


def test_long_durations_are_chained_windows(cli):
    # 40 frames at the tiny model's 17-frame window: three windows, one continuous clip
    r = cli("generate", "a red ball", "--width", "128", "--height", "72", "--frames", "40", "-o", "long.mp4")
    assert r.exit_code == 0, r.output
    assert read_video(cli.cwd / "long.mp4").frames.shape[0] == 40


def test_same_seed_same_video_other_seed_other_video(cli):
    args = ["generate", "a red ball moves left", "--width", "128", "--height", "72", "--frames", "9"]
    for name, seed in (("a.mp4", 7), ("b.mp4", 7), ("c.mp4", 8)):
        assert cli(*args, "--seed", str(seed), "-o", name).exit_code == 0
    a, b, c = (frames_of(cli.cwd / n) for n in ("a.mp4", "b.mp4", "c.mp4"))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stdout_is_only_the_path_and_json_is_one_object(cli):
    r = cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "-o", "p.mp4")
    assert r.stdout.strip() == "p.mp4"
    r = cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "--json", "--seed", "3")
    data = json.loads(r.stdout)
    assert data["seed"] == 3 and (cli.cwd / data["output"]).is_file() and (cli.cwd / data["sidecar"]).is_file()


def test_random_seed_is_reported_and_reproduces_the_clip(cli):
    r = cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "--json", "-o", "r.mp4")
    seed = json.loads(r.stdout)["seed"]
    meta = read_metadata(cli.cwd / "r.mp4")
    assert meta["seed"] == seed and meta["prompt"] == "a ball" and meta["model"] == "tiny"
    cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "--seed", str(seed), "-o", "s.mp4")
    assert np.array_equal(frames_of(cli.cwd / "r.mp4"), frames_of(cli.cwd / "s.mp4"))


def test_prompt_from_stdin_and_unknown_words_warned_once(cli):
    r = cli("generate", "-", "--width", "128", "--height", "72", "--frames", "5", "-o", "i.mp4",
            input="a red zeppelin moves left\n")
    assert r.exit_code == 0
    assert read_metadata(cli.cwd / "i.mp4")["prompt"] == "a red zeppelin moves left"
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning")]
    assert len(warnings) == 1 and "zeppelin" in warnings[0]
    assert r.stdout.strip() == "i.mp4"


def test_quiet_prints_nothing_on_stderr(cli):
    r = cli("generate", "a red zeppelin", "--width", "128", "--height", "72", "--frames", "5", "-q", "-o", "q.mp4")
    assert r.exit_code == 0 and r.stderr == "" and r.stdout.strip() == "q.mp4"


def test_preview_is_small_shares_the_seed_and_prints_the_full_render_command(cli):
    r = cli("generate", "a ball", "--preset", "16x9", "--frames", "9", "--seed", "5", "--preview", "--json")
    data = json.loads(r.stdout)
    assert (data["width"], data["height"]) == (480, 270)
    assert "--seed 5" in data["full_render"] and "--preview" not in data["full_render"]
    assert "full render: sora generate" in r.stderr
    meta = read_metadata(cli.cwd / data["output"])
    assert meta["steps"] == 2 and meta["working_size"] == [40, 24]  # half of the full 80x48


def test_a_preview_is_encoded_as_a_draft_and_a_full_render_is_not(cli):
    # x264 writes its options into the stream: ultrafast turns CABAC off, the full preset keeps it.
    for flag, name in (("--preview", "draft.mp4"), ("--no-preview", "final.mp4")):
        r = cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", flag, "-o", name)
        assert r.exit_code == 0, r.stderr
    draft, final = ((cli.cwd / n).read_bytes() for n in ("draft.mp4", "final.mp4"))
    assert b"cabac=0" in draft and b"cabac=1" in final
    assert read_video(cli.cwd / "draft.mp4").frames.shape[0] == read_video(cli.cwd / "final.mp4").frames.shape[0] == 5


def test_preview_noise_is_the_pooled_noise_of_the_full_render(tiny):
    from sora_cli.engine import Settings

    engine = Engine(load_model(str(tiny), torch.device("cpu"), torch.float32))
    base = dict(prompt="x", negative="", seed=3, steps=1, guidance=1.0, shift=1.0)
    full = engine._noise(Settings(**base, width=64, height=32), (1, 4, 2, 4, 8), 0)
    small = engine._noise(Settings(**base, width=32, height=16, preview=True), (1, 4, 2, 2, 4), 0)
    pooled = 2.0 * torch.nn.functional.avg_pool3d(full, (1, 2, 2))
    assert torch.allclose(small, pooled, atol=1e-6)


def test_the_guidance_interval_reaches_the_sampler(tiny):
    from sora_cli.engine import Settings

    engine = Engine(load_model(str(tiny), torch.device("cpu"), torch.float32))
    base = dict(prompt="a red ball", negative="", seed=3, steps=3, shift=1.0, width=64, height=32)
    unguided = engine.window(Settings(**base, guidance=1.0), 5, [])
    guided = engine.window(Settings(**base, guidance=6.0), 5, [])
    never = engine.window(Settings(**base, guidance=6.0, guidance_interval=(2.0, 3.0)), 5, [])
    assert not torch.equal(guided, unguided)
    assert torch.equal(never, unguided)
    focused = engine.window(Settings(**base, guidance=6.0, guidance_focus=0.9), 5, [])
    assert not torch.equal(focused, guided) and not torch.equal(focused, unguided)


def test_a_models_guidance_focus_reaches_its_clips_settings_and_metadata(tiny):
    from dataclasses import replace

    from sora_cli.clip import metadata

    loaded = load_model(str(tiny), torch.device("cpu"), torch.float32)
    job, _ = build_job(Request(mode="generate", prompt="a red ball", width=128, height=72, frames=5,
                               output="/tmp/unused-focus.mp4", model=str(tiny), overwrite=True))
    assert plan_clip(job, loaded).settings.guidance_focus == 0.0
    plan = plan_clip(job, replace(loaded, spec=replace(loaded.spec, guidance_focus=0.5)))
    assert plan.settings.guidance_focus == 0.5 and metadata(plan, str(tiny))["guidance_focus"] == 0.5


def test_gif_and_webm_outputs(cli):
    for name in ("a.gif", "b.webm"):
        r = cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "-o", name)
        assert r.exit_code == 0, r.output
        assert read_video(cli.cwd / name).frames.shape[1:3] == (72, 128)
        assert json.loads((cli.cwd / name).with_suffix(".json").read_text())["prompt"] == "a ball"


def test_animate_keeps_the_image_as_first_or_last_frame(cli):
    image = moving_square(1)
    make_video(cli.cwd / "still.png", image)
    for at, index in (("start", 0), ("end", -1)):
        r = cli("animate", "still.png", "the red square moves right", "--width", "128", "--height", "72",
                "--frames", "12", "--at", at, "-o", f"{at}.mp4")
        assert r.exit_code == 0, r.output
        out = frames_of(cli.cwd / f"{at}.mp4")
        assert out.shape[0] == 12
        assert psnr(out[index], image[0]) > 30


def test_extend_keeps_every_given_frame_forward_and_backward(cli):
    clip = moving_square(13)
    make_video(cli.cwd / "in.mp4", clip)
    given = frames_of(cli.cwd / "in.mp4")
    for flag, name in ((None, "fwd.mp4"), ("--backward", "bwd.mp4")):
        args = ["extend", "in.mp4", "the square moves right", "--seconds", "1", "-o", name]
        r = cli(*(args + [flag] if flag else args))
        assert r.exit_code == 0, r.output
        out = frames_of(cli.cwd / name)
        assert out.shape == (13 + 24, 72, 128, 3)
        kept = out[:13] if flag is None else out[-13:]
        assert min(psnr(a, b) for a, b in zip(kept, given)) > 30


def test_extend_of_a_long_video_holds_only_its_ends_in_memory(cli, monkeypatch):
    # A 10-minute input used 1.96 GB to keep its last second: now only KEPT_SECONDS at each end
    # stay in memory, and the frames between are streamed from the file into the output.
    import sora_cli.video_io as video_io

    monkeypatch.setattr(video_io, "KEPT_SECONDS", 0.25)  # 6 frames at each end of this 40-frame clip
    clip = np.concatenate([moving_square(20), moving_square(20)[::-1]])
    make_video(cli.cwd / "in.mp4", clip)
    given = frames_of(cli.cwd / "in.mp4")
    video = read_video(cli.cwd / "in.mp4")
    assert isinstance(video.frames, video_io.FileFrames)
    assert video.frames.shape == (40, 72, 128, 3) and len(video.frames.head) + len(video.frames.tail) == 12
    r = cli("extend", "in.mp4", "the square moves right", "--seconds", "0.5", "-o", "fwd.mp4")
    assert r.exit_code == 0, r.output
    out = frames_of(cli.cwd / "fwd.mp4")
    assert out.shape == (40 + 12, 72, 128, 3)
    assert min(psnr(a, b) for a, b in zip(out[:40], given)) > 30  # the middle came from the file, in order


def test_given_frames_pass_through_the_engine_bit_exactly(tiny, tmp_path):
    make_video(tmp_path / "in.mp4", moving_square(9))
    model = load_model(str(tiny), torch.device("cpu"), torch.float32)
    job, _ = build_job(Request(mode="extend", prompt="x", seed=1, video=str(tmp_path / "in.mp4"), seconds=0.5,
                               output=str(tmp_path / "o.mp4")))
    segments = render(plan_clip(job, model), Engine(model))
    assert torch.equal(segments[0].frames, job.video.frames) and segments[0].count == 9
    assert segments[1].count == 12


def test_loop_ends_on_a_window_conditioned_on_its_own_first_frame(cli, tiny, monkeypatch):
    calls = []
    original = Engine._window  # every window, whether asked for alone or in a chain

    def spy(self, s, frames, conditions, index, source):
        out, latents = original(self, s, frames, conditions, index, source)
        calls.append((frames, conditions, out))
        return out, latents

    monkeypatch.setattr(Engine, "_window", spy)
    r = cli("loop", "a red ball circles", "--width", "128", "--height", "72", "--frames", "30", "-o", "l.mp4")
    assert r.exit_code == 0, r.output
    first = calls[0][2]  # a one-frame window: the still the loop starts and ends on
    assert calls[0][0] == 1
    _, last_conditions, _ = calls[-1]
    end = [c for c in last_conditions if c.latent_index < 0]
    assert len(end) == 1 and end[0].latent_index == -1 and end[0].strength == 1.0
    from sora_cli.frames import to_model
    assert torch.equal(end[0].frames, to_model(first))
    assert frames_of(cli.cwd / "l.mp4").shape[0] == 30


def test_loop_a_video_appends_a_bridge_back_to_its_start(cli):
    make_video(cli.cwd / "in.mp4", moving_square(13))
    r = cli("loop", "the square", "--video", "in.mp4", "--seconds", "0.5", "-o", "lv.mp4")
    assert r.exit_code == 0, r.output
    out = frames_of(cli.cwd / "lv.mp4")
    assert out.shape[0] == 13 + 12
    assert psnr(out[0], frames_of(cli.cwd / "in.mp4")[0]) > 30


def test_v2v_keeps_length_size_and_moves_less_at_low_strength(cli, monkeypatch):
    import sora_cli.engine as engine

    clip = moving_square(13)
    make_video(cli.cwd / "in.mp4", clip)
    moved = {}
    original = engine.sample

    def spy(velocity, noise, init, strength, times, on_step=None):
        out = original(velocity, noise, init, strength, times, on_step)
        moved.setdefault(current, []).append((out - init).abs().mean().item())
        return out

    monkeypatch.setattr(engine, "sample", spy)
    for current in ("0.2", "1.0"):
        r = cli("v2v", "in.mp4", "a green square", "--strength", current, "--seed", "1", "-o", f"v{current}.mp4")
        assert r.exit_code == 0, r.output
        assert frames_of(cli.cwd / f"v{current}.mp4").shape == clip.shape
    # Measured on the latents the sampler returns against the encoded source: a random
    # decoder maps both to near-flat frames, so pixels cannot tell the two apart.
    assert sum(moved["0.2"]) < sum(moved["1.0"])


def test_every_v2v_frame_and_only_given_extend_frames_are_put_in_the_prompts_order(tiny, tmp_path, monkeypatch):
    # A v2v source is encoded in the encoder's order of objects throughout, as given frames are: left so, a
    # two-object restyle repaints each object as the other (benchmarks/restyle.py).
    make_video(tmp_path / "in.mp4", moving_square(9))
    model = load_model(str(tiny), torch.device("cpu"), torch.float32)
    held = []

    def spy(latents, given, expected):
        held.append(given.tolist())
        return latents

    monkeypatch.setattr(model.net.vae, "order_given", spy)
    for mode, extra in (("v2v", {"strength": 0.5}), ("extend", {"seconds": 0.5})):
        job, _ = build_job(Request(mode=mode, prompt="x", seed=1, video=str(tmp_path / "in.mp4"),
                                   output=str(tmp_path / f"{mode}.mp4"), **extra))
        held.clear()
        render(plan_clip(job, model), Engine(model))
        assert held, mode
        if mode == "v2v":
            assert all(v == 1.0 for window in held for v in window)
        else:
            assert any(v == 1.0 for v in held[0]) and any(v < 1.0 for v in held[0])


def test_installed_entry_point_generates(tiny, tmp_path):
    from conftest import run_sora

    r = run_sora("generate", "a red ball", "--model", tiny, "--width", "128", "--height", "72", "--frames", "5",
                 "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / json.loads(r.stdout)["output"]).is_file()


def test_mp4_is_h264_yuv420p_with_faststart(cli):
    import subprocess

    from sora_cli.video_io import ffmpeg

    cli("generate", "a ball", "--width", "128", "--height", "72", "--frames", "5", "-o", "f.mp4")
    probe = subprocess.run([ffmpeg(), "-i", str(cli.cwd / "f.mp4")], capture_output=True, text=True).stderr
    assert "h264" in probe and "yuv420p" in probe
    data = (cli.cwd / "f.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: the index comes first


def test_pull_refuses_unknown_models_in_one_line(cli):
    r = cli("pull", "nope")
    assert r.exit_code == 3
    known = "sora-mini, wan2.1-t2v-1.3b, wan2.2-ti2v-5b"
    assert r.stderr.strip().splitlines() == [f"error: unknown model 'nope' (known: {known})"]
