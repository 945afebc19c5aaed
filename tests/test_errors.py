"""Every bad input: one line on stderr, its documented exit code, nothing half-written."""

import errno
import os
import shutil
import signal
import subprocess
import time

import pytest
from conftest import make_video, moving_square, run_sora, sora_exe

BAD_INPUT, USAGE, PARTIAL, FAILED, INTERRUPTED = 3, 2, 4, 5, 130
SMALL = ["--width", "128", "--height", "72", "--frames", "5"]


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".part")


@pytest.mark.parametrize("args,code,message", [
    (["generate", "", *SMALL], BAD_INPUT, "prompt is empty"),
    (["generate", "   ", *SMALL], BAD_INPUT, "prompt is empty"),
    (["generate", "x", "--width", "4000", "--height", "72"], BAD_INPUT, "outside 64..2560"),
    (["generate", "x", "--width", "32", "--height", "72"], BAD_INPUT, "outside 64..2560"),
    (["generate", "x", "--width", "129", "--height", "72"], BAD_INPUT, "must be even"),
    (["generate", "x", "--width", "2560", "--height", "64"], BAD_INPUT, "wider than 21:9"),
    (["generate", "x", "--frames", "0"], BAD_INPUT, "0 frames"),
    (["generate", "x", "--duration", "0"], BAD_INPUT, "0 frames"),
    (["generate", "x", "--preset", "nope"], BAD_INPUT, "unknown preset 'nope'"),
    (["generate", "x", "--steps", "0"], BAD_INPUT, "--steps"),
    (["generate", "x", "--frames", "4", "--duration", "1"], BAD_INPUT, "not both"),
    (["animate", "missing.png", "x"], BAD_INPUT, "image not found"),
    (["animate", "junk.png", "x"], BAD_INPUT, "cannot read image"),
    (["extend", "missing.mp4", "x"], BAD_INPUT, "video not found"),
    (["v2v", "junk.mp4", "x"], BAD_INPUT, "cannot read video"),
    (["v2v", "clip.mp4", "x", "--strength", "1.5"], BAD_INPUT, "--strength"),
    (["animate", "still.png", "x", "--at", "middle"], BAD_INPUT, "--at must be"),
    (["generate", "x", "-o", "clip.mov"], BAD_INPUT, "unsupported output format"),
    (["generate", "x", "-o", "nodir/x.mp4"], BAD_INPUT, "folder does not exist"),
    (["generate", "x", "--device", "cuda:7"], BAD_INPUT, "CUDA"),
    (["generate", "x", "--dtype", "float8"], BAD_INPUT, "unknown dtype"),
    (["generate", "x", "--bogus"], USAGE, "No such option"),
    (["generate"], USAGE, "Missing argument"),
    (["generate", "x", "--frames", "many"], USAGE, "--frames"),
])
def test_bad_input_is_one_line_with_its_exit_code(cli, args, code, message):
    (cli.cwd / "junk.png").write_bytes(b"not an image")
    (cli.cwd / "junk.mp4").write_bytes(b"\x00" * 100)
    make_video(cli.cwd / "still.png", moving_square(1))
    make_video(cli.cwd / "clip.mp4", moving_square(5))
    before = sorted(p.name for p in cli.cwd.iterdir())
    r = cli(*args)
    assert r.exit_code == code, r.output
    # CliRunner runs click's own usage formatting; the entry point's one line is tested below.
    assert message in (r.stderr if code == USAGE else one_line_error(r))
    assert sorted(p.name for p in cli.cwd.iterdir()) == before


@pytest.mark.parametrize("args,message", [(["generate", "--bogus"], "No such option"),
                                          (["generate"], "Missing argument"),
                                          (["explode"], "No such command")])
def test_usage_errors_through_the_entry_point_are_one_line_too(tmp_path, args, message):
    r = run_sora(*args, cwd=tmp_path)
    assert r.returncode == USAGE and message in one_line_error(r)


def test_unknown_model_and_missing_weights(cli, tmp_path, monkeypatch):
    r = cli("generate", "x", *SMALL, "--model", "nope", model=False)
    assert r.exit_code == BAD_INPUT and "unknown model 'nope'" in one_line_error(r)
    monkeypatch.setenv("SORA_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr("sora_cli.weights.PROJECT_WEIGHTS", tmp_path / "empty")
    r = cli("generate", "x", *SMALL, "--model", "sora-mini", model=False)
    assert r.exit_code == BAD_INPUT and "weights for 'sora-mini' are missing" in one_line_error(r)


def test_corrupted_weights_are_refused(cli, tiny, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny, bad)
    with open(bad / "model.safetensors", "r+b") as f:
        f.seek(-10, os.SEEK_END)
        f.write(b"\xff" * 10)
    r = cli("generate", "x", *SMALL, "--model", str(bad), model=False)
    assert r.exit_code == BAD_INPUT and "corrupted" in one_line_error(r)
    (bad / "SHA256SUMS").unlink()
    r = cli("generate", "x", *SMALL, "--model", str(bad), model=False)
    assert r.exit_code == BAD_INPUT and "SHA256SUMS" in one_line_error(r)


def test_existing_output_is_never_overwritten_without_the_flag(cli):
    (cli.cwd / "mine.mp4").write_bytes(b"precious")
    r = cli("generate", "x", *SMALL, "-o", "mine.mp4")
    assert r.exit_code == BAD_INPUT and "--overwrite" in one_line_error(r)
    assert (cli.cwd / "mine.mp4").read_bytes() == b"precious"
    r = cli("generate", "x", *SMALL, "-o", "mine.mp4", "--overwrite")
    assert r.exit_code == 0 and (cli.cwd / "mine.mp4").read_bytes() != b"precious"


def test_default_names_never_collide(cli):
    outs = [cli("generate", "a ball", *SMALL, "--seed", "1").stdout.strip() for _ in range(2)]
    assert outs[0] != outs[1] and all((cli.cwd / o).is_file() for o in outs)


def test_nan_in_sampling_is_reported_not_encoded(cli, nan_model):
    r = cli("generate", "a ball", *SMALL, "--model", str(nan_model), "-o", "nan.mp4", model=False)
    assert r.exit_code == FAILED and "NaN" in one_line_error(r)
    assert not (cli.cwd / "nan.mp4").exists() and leftovers(cli.cwd) == []


def test_full_disk_leaves_nothing_behind(cli, monkeypatch):
    def full(tmp, *args, **kwargs):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sora_cli.video_io._encode", full)
    r = cli("generate", "a ball", *SMALL, "-o", "full.mp4")
    assert r.exit_code == FAILED and "disk full" in one_line_error(r)
    assert sorted(p.name for p in cli.cwd.iterdir()) == []


def test_ctrl_c_exits_130_and_leaves_no_partial_file(tiny, tmp_path):
    proc = subprocess.Popen([*sora_exe(), "generate", "a ball", "--model", str(tiny), "--width", "128", "--height", "72",
                             "--frames", "5", "--steps", "100000", "-o", "c.mp4"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # past start-up, into sampling
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == INTERRUPTED, err
    assert err.strip() == "error: interrupted"
    assert list(tmp_path.iterdir()) == []
