"""Tiny random-weight models written as real model folders, and CLI runners."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sora_cli.checksums import write_checksums
from sora_cli.cli.app import app
from sora_cli.models.mini.folder import save_model
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.specs import DiTSpec, ModelSpec, TextSpec, VAESpec

TINY = ModelSpec(
    name="tiny",
    vae=VAESpec(latent_channels=4, base_channels=8, channel_mults=(1, 2, 2, 2)),
    dit=DiTSpec(dim=32, depth=2, heads=2),
    text=TextSpec(vocab_size=64, dim=32, depth=1, heads=2, max_tokens=16),
    window_frames=17, context_frames=5, max_area=64 * 48, steps=3, preview_steps=2,
)
WORDS = "a an the red blue green ball box circle square moves left right up down bounces".split()


def build_tiny(folder: Path, spec: ModelSpec = TINY, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net = VideoModel(spec)
    # adaLN-Zero and the cross-attention output start at zero; random values make the tiny DiT
    # actually do something, and read its prompt.
    for name, p in net.dit.named_parameters():
        if "ada" in name or "proj_out" in name or "cross.o" in name:
            torch.nn.init.normal_(p, std=0.05)
    save_model(net, spec, WordTokenizer(WORDS), folder)
    return folder


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def nan_model(tmp_path_factory, tiny) -> Path:
    from safetensors.torch import load_file, save_file

    folder = tmp_path_factory.mktemp("models") / "nan"
    shutil.copytree(tiny, folder)
    state = load_file(folder / "model.safetensors")
    state["dit.proj_out.bias"] = torch.full_like(state["dit.proj_out.bias"], float("nan"))
    with open(folder / "model.safetensors", "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    save_file(state, str(folder / "model.safetensors"), metadata=header["__metadata__"])
    write_checksums(folder)
    return folder


class Cli:
    def __init__(self, model: Path, cwd: Path):
        self.model, self.cwd = model, cwd
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, model: bool = True):
        argv = [str(a) for a in args]
        if model and argv and argv[0] in ("generate", "animate", "extend", "loop", "v2v", "batch", "storyboard"):
            argv += ["--model", str(self.model)]
        return self.runner.invoke(app, argv, input=input, catch_exceptions=False)


def run_every_mode(model: Path, cwd: Path) -> None:
    """generate, animate (of still.png, written here), extend, loop, v2v and a bf16 preview with `model`,
    in `cwd`: each exits 0 and writes its clip (g, a, e, l, v, p.mp4)."""
    cli = Cli(model, cwd)
    make_video(cwd / "still.png", moving_square(1))
    make_video(cwd / "clip.mp4", moving_square(9))
    size = ["--width", "128", "--height", "72"]
    for args in (["generate", "a red ball", *size, "--frames", "9", "-o", "g.mp4"],
                 ["animate", "still.png", "a red ball", *size, "--frames", "9", "-o", "a.mp4"],
                 ["extend", "clip.mp4", "on", "--seconds", "0.25", "-o", "e.mp4"],
                 ["loop", "a ball", *size, "--frames", "9", "-o", "l.mp4"],
                 ["v2v", "clip.mp4", "a blue box", "-o", "v.mp4"],
                 ["generate", "a red ball", *size, "--frames", "9", "--preview", "--dtype", "bfloat16", "-o", "p.mp4"]):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.output)
        assert (cwd / args[args.index("-o") + 1]).stat().st_size > 0


@pytest.fixture()
def cli(tiny, tmp_path, monkeypatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tiny, tmp_path)


def sora_exe() -> list[str]:
    exe = shutil.which("sora")
    return [exe] if exe else [sys.executable, "-m", "sora_cli"]


def run_sora(*args: str, cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*sora_exe(), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def make_video(path: Path, frames: np.ndarray, fps: float = 24) -> Path:
    """Write (T, H, W, 3) uint8 frames as an mp4 (or a png when T == 1)."""
    from sora_cli.video_io import ffmpeg

    t, h, w, _ = frames.shape
    out = ["-frames:v", "1"] if path.suffix == ".png" else ["-c:v", "libx264", "-crf", "1", "-pix_fmt", "yuv420p"]
    subprocess.run([ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", str(fps), "-i", "-", *out, str(path)], input=frames.tobytes(), check=True)
    return path


def moving_square(t: int = 20, h: int = 72, w: int = 128) -> np.ndarray:
    """A red square sliding right over blue: a simple, recognisable test clip."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    frames[...] = (40, 90, 220)
    for i in range(t):
        x = 8 + 3 * i
        frames[i, 24:48, x:x + 24] = (220, 40, 40)
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
