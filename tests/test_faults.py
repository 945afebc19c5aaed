"""Faults a hostile user finds (issue 20): signals, odd inputs, disk full, and the defaults users expect."""

import errno
import json
import os
import shlex
import signal
import stat
import subprocess
import time

import numpy as np
import pytest
from conftest import make_video, moving_square, run_sora, sora_exe

from sora_cli.video_io import ffmpeg, read_metadata, read_video

SMALL = ["--width", "128", "--height", "72", "--frames", "5"]


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_sigterm_while_encoding_leaves_no_part_file_and_exits_143(tiny, tmp_path):
    # Many large frames: the encoder runs long enough to be caught at work.
    proc = subprocess.Popen([*sora_exe(), "generate", "a ball", "--model", str(tiny), "--width", "1920",
                             "--height", "1080", "--frames", "600", "-o", "o.mp4"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not any(p.name.startswith(".o.mp4.") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.time() < deadline, "no .part file appeared"
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and one_line_error(err) == "error: terminated"
    time.sleep(1.0)  # an orphaned ffmpeg would keep writing: nothing may reappear
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig,code,line", [(signal.SIGINT, 130, "error: interrupted"),
                                           (signal.SIGTERM, 143, "error: terminated")])
def test_an_interrupt_during_start_up_is_one_line(tmp_path, sig, code, line):
    proc = subprocess.Popen([*sora_exe(), "generate", "a red ball", "-d", "4"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)  # still importing torch
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and one_line_error(err) == line


def test_a_kill_9_leftover_is_removed_by_the_next_run(cli):
    stale = cli.cwd / ".o.mp4.999999.abc123.part"  # a pid that does not run
    stale.write_bytes(b"half a clip")
    live = cli.cwd / f".o.mp4.{os.getppid()}.abc123.part"  # a running process's work in progress
    live.write_bytes(b"someone else's")
    r = cli("generate", "a ball", *SMALL, "-o", "o.mp4")
    assert r.exit_code == 0, r.output
    assert not stale.exists() and live.exists()


def test_variable_frame_rate_input_keeps_its_duration(cli):
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=24",
                    "-t", "2", "-vf", "setpts='if(lt(N,24),N/24/TB,(24+(N-24)*3)/24/TB)'", "-fps_mode", "vfr",
                    str(cli.cwd / "vfr.mp4")], check=True)
    src = read_video(cli.cwd / "vfr.mp4")
    assert src.fps == 24 and abs(src.frames.shape[0] / src.fps - 2.0) < 0.1  # its timeline, not its frame count
    r = cli("v2v", "vfr.mp4", "a red ball", "-o", "v.mp4")
    assert r.exit_code == 0, r.output
    out = read_video(cli.cwd / "v.mp4")
    assert abs(out.frames.shape[0] / out.fps - src.frames.shape[0] / src.fps) < 0.1


def test_batch_resume_does_not_depend_on_how_the_out_dir_is_spelled(cli):
    (cli.cwd / "b.txt").write_text("a red ball\na blue box\n")
    r = cli("batch", "b.txt", "--out-dir", "out", "--preset", "16x9-720p", "--seed", "1", "--json")
    assert r.exit_code == 0, r.output
    r = cli("batch", "b.txt", "--out-dir", str(cli.cwd / "out"), "--preset", "16x9-720p", "--seed", "1", "--json")
    assert r.exit_code == 0, r.output
    assert [i["status"] for i in json.loads(r.stdout)["items"]] == ["skipped", "skipped"]


def test_batch_validation_lists_every_problem_and_creates_nothing(cli):
    rows = [{"prompt": "x", "colour": "red", "mode": "animate", "image": "nope.png"},
            {"prompt": "a", "output": "same.mp4"}, {"prompt": "b", "output": "same.mp4"},
            {"prompt": "c", "output": "../escape.mp4"}]
    (cli.cwd / "b.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    r = cli("batch", "b.jsonl", "--out-dir", "out")
    assert r.exit_code == 3
    *problems, summary = r.stderr.strip().splitlines()
    assert any("b.jsonl:1: unknown field(s) colour" in p for p in problems)
    assert any("b.jsonl:1:" in p and "image not found" in p for p in problems)
    assert any("b.jsonl:3:" in p and "also line 2's output" in p for p in problems)
    assert any("b.jsonl:4:" in p and "outside the out-dir" in p for p in problems)
    assert summary == f"error: {len(problems)} problems in b.jsonl; nothing was run"
    assert not (cli.cwd / "out").exists()


def test_an_absolute_batch_output_goes_where_it_says(cli, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "there.mp4"
    (cli.cwd / "b.jsonl").write_text(json.dumps({"prompt": "x", "output": str(elsewhere), **dict(
        width=128, height=72, frames=5)}) + "\n")
    r = cli("batch", "b.jsonl", "--out-dir", "out")
    assert r.exit_code == 0, r.output
    assert elsewhere.is_file()


def test_an_empty_prompt_loops_or_extends_a_video(cli):
    make_video(cli.cwd / "clip.mp4", moving_square(9))
    r = cli("loop", "", "--video", "clip.mp4", "--seconds", "0.25", "-o", "l.mp4")
    assert r.exit_code == 0, r.output
    r = cli("extend", "clip.mp4", "", "--seconds", "0.25", "-o", "e.mp4")
    assert r.exit_code == 0, r.output
    r = cli("generate", "", *SMALL)
    assert r.exit_code == 3 and "prompt is empty" in r.stderr


def test_the_rerun_command_of_a_prompt_that_looks_like_an_option_runs(cli):
    r = cli("generate", *SMALL, "--seed", "3", "-o", "a.mp4", "--model", str(cli.model), "--", "--red ball",
            model=False)
    assert r.exit_code == 0, r.output
    command = read_metadata(cli.cwd / "a.mp4")["command"]
    assert "-- '--red ball'" in command
    args = shlex.split(command)[1:]  # drop "sora"
    args[args.index("--model") + 1] = str(cli.model)
    r = cli(*(args[:args.index("--")] + ["-o", "b.mp4"] + args[args.index("--"):]), model=False)
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_video(cli.cwd / "a.mp4").frames.numpy(), read_video(cli.cwd / "b.mp4").frames.numpy())


def test_every_unknown_word_is_named_in_any_script(cli):
    r = cli("generate", "a red ball 🔴 bounces كرة حمراء 赤い", *SMALL, "-o", "u.mp4")
    assert r.exit_code == 0, r.output
    warning = next(line for line in r.stderr.splitlines() if line.startswith("warning:"))
    for word in ("🔴", "كرة", "حمراء", "赤い"):
        assert word in warning


def test_disk_full_at_the_sidecar_leaves_neither_file_and_names_the_sidecar(cli, monkeypatch):
    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("sora_cli.video_io._write_text", full)
        r = cli("generate", "a ball", *SMALL, "-o", "out.mp4")
    assert r.exit_code == 5 and "disk full while writing out.json" in r.stderr
    assert list(cli.cwd.iterdir()) == []
    r = cli("generate", "a ball", *SMALL, "-o", "out.mp4")  # a re-run just works
    assert r.exit_code == 0 and (cli.cwd / "out.json").is_file(), r.output


def test_a_sidecar_that_cannot_be_published_takes_its_clip_with_it(cli, monkeypatch):
    real = os.replace

    def refuse(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr("sora_cli.video_io.os.replace", refuse)
    r = cli("generate", "a ball", *SMALL, "-o", "out.mp4")
    assert r.exit_code == 5 and "out.json" in r.stderr
    assert list(cli.cwd.iterdir()) == []


def test_outputs_get_the_users_umask(cli):
    old = os.umask(0o022)
    try:
        r = cli("generate", "a ball", *SMALL, "-o", "m.mp4")
    finally:
        os.umask(old)
    assert r.exit_code == 0
    for name in ("m.mp4", "m.json"):
        assert stat.S_IMODE((cli.cwd / name).stat().st_mode) == 0o644


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_guidance_is_bad_input_before_the_model_loads(cli, value, monkeypatch):
    monkeypatch.setattr("sora_cli.cli.make.load_model", lambda *a: pytest.fail("the model loaded"))
    r = cli("generate", "a ball", *SMALL, "--guidance", value)
    assert r.exit_code == 3 and "finite" in r.stderr


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_output_that_is_a_directory_is_refused_before_any_work(cli, overwrite, monkeypatch):
    (cli.cwd / "d.mp4").mkdir()
    monkeypatch.setattr("sora_cli.cli.make.load_model", lambda *a: pytest.fail("the model loaded"))
    r = cli("generate", "a ball", *SMALL, "-o", "d.mp4", *overwrite)
    assert r.exit_code == 3 and "is a directory" in r.stderr


def test_pull_without_a_network_fails_in_seconds_with_one_line(tmp_path):
    env = dict(os.environ, HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    start = time.time()
    r = run_sora("pull", "wan2.1-t2v-1.3b", cwd=tmp_path, env=env)
    assert r.returncode == 5 and "cannot reach" in one_line_error(r.stderr)
    assert time.time() - start < 15
    assert not any((tmp_path / "hf").rglob("*.safetensors*"))


def test_dropped_inputs_are_said_in_one_warning_each(cli):
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=128x72:rate=24",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "0.5", "-shortest", "-pix_fmt", "yuv420p",
                    str(cli.cwd / "talk.mp4")], check=True)
    r = cli("extend", "talk.mp4", "on", "--seconds", "0.25", "-o", "e.mp4")
    assert r.exit_code == 0 and "has an audio track; the clip is written without it" in r.stderr
    make_video(cli.cwd / "anim.mp4", moving_square(4))
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(cli.cwd / "anim.mp4"), str(cli.cwd / "anim.gif")],
                   check=True)
    r = cli("animate", "anim.gif", "a red box", *SMALL, "-o", "a.mp4")
    assert r.exit_code == 0 and "anim.gif is animated; only its first frame is used" in r.stderr
    make_video(cli.cwd / "icon.png", moving_square(1, 16, 16))
    r = cli("animate", "icon.png", "a red box", "--width", "256", "--height", "144", "--frames", "5", "-o", "i.mp4")
    assert r.exit_code == 0 and "icon.png is 16x16; it is upscaled 16 times to 256x144" in r.stderr


def test_extend_of_a_long_video_works_only_on_the_frames_the_engine_reads(tiny, tmp_path):
    import torch

    from sora_cli.plan import plan_clip
    from sora_cli.requests import Request, build_job
    from sora_cli.weights import load_model

    make_video(tmp_path / "long.mp4", moving_square(240))
    model = load_model(str(tiny), torch.device("cpu"), torch.float32)
    for mode, extra in (("extend", {}), ("extend", {"backward": True}), ("loop", {})):
        job, _ = build_job(Request(mode=mode, prompt="on", video=str(tmp_path / "long.mp4"), seconds=0.25,
                                   output=str(tmp_path / "o.mp4"), **extra))
        plan = plan_clip(job, model)
        given = plan.after if extra else plan.before
        assert given.frames.shape[0] == 240  # the output still shows every given frame
        k = model.spec.context_frames
        assert given.working.shape[0] == (2 * k if mode == "loop" else k)
