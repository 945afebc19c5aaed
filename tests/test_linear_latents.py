"""Linear latents: pixel cells on the world's principal components, fitted before training."""

import os
import random
import signal

import pytest
import torch
from conftest import WORDS, run_every_mode

from sora_cli.frames import to_model
from sora_cli.models.mini.folder import save_model
from sora_cli.models.mini.linear_latents import LinearLatents
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.research.training.data import pixel_cells
from sora_cli.research.world.render import render
from sora_cli.research.world.scene import random_scene
from sora_cli.specs import DiTSpec, ModelSpec, TextSpec, VAESpec

# 4x4 pixels x 4 frames a cell (192 values), 24 components.
LINEAR = VAESpec(kind="linear", latent_channels=24, channel_mults=(1, 1, 1))
TINY_LINEAR = ModelSpec(
    name="tiny-linear", vae=LINEAR,
    dit=DiTSpec(dim=32, depth=2, heads=2, predicts="clean", pooled_text=True, frame_positions=True),
    text=TextSpec(vocab_size=256, dim=32, depth=1, heads=2, max_tokens=40),
    window_frames=17, context_frames=5, max_area=64 * 48, steps=3, preview_steps=2,
)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4.0 / ((a - b) ** 2).mean()))  # values in [-1, 1]


@pytest.fixture(scope="module")
def fitted() -> tuple[LinearLatents, float]:
    latents = LinearLatents(LINEAR)
    kept = latents.fit(pixel_cells(random.Random(0), TINY_LINEAR, 2))
    return latents, kept


def test_a_fitted_basis_round_trips_unseen_world_clips_where_an_unfitted_one_cannot(fitted):
    latents, kept = fitted
    assert kept > 0.99
    basis = latents.basis.double()
    assert torch.allclose(basis @ basis.T, torch.eye(24, dtype=torch.float64), atol=1e-6)
    rng = random.Random(7)  # scenes the fit never saw
    video = torch.stack([to_model(render(random_scene(rng, 0.5), 64, 48, 17)).transpose(0, 1) for _ in range(4)])
    z = latents.encode(video)
    assert z.shape == (4, 24, 5, 12, 16)
    # Unit-variance latents for the DiT, whatever the components' own scales.
    assert 0.5 < float(z.std()) < 2.0
    assert _psnr(latents.decode(z), video) > 30
    assert _psnr(LinearLatents(LINEAR).decode(LinearLatents(LINEAR).encode(video)), video) < 15


def test_whitening_sets_how_loud_each_component_is_and_nothing_else(fitted):
    from dataclasses import replace

    rng = random.Random(7)
    video = torch.stack([to_model(render(random_scene(rng, 0.5), 64, 48, 17)).transpose(0, 1) for _ in range(4)])
    cells = pixel_cells(random.Random(0), TINY_LINEAR, 2)
    stds = {}
    for whiten in (1.0, 0.5, 0.0):
        latents = LinearLatents(replace(LINEAR, whiten=whiten))
        latents.fit(cells)
        z = latents.encode(video)
        stds[whiten] = z.transpose(0, 1).reshape(24, -1).std(dim=1)
        # The same projection, so the same round trip; the latents' mean variance stays about 1.
        assert _psnr(latents.decode(z), fitted[0].decode(fitted[0].encode(video))) > 60
        assert 0.3 < float(stds[whiten].square().mean()) < 3.0
    spread = {w: float(s[0] / s[-1]) for w, s in stds.items()}
    # Whitened: every component about as loud; at 0 the coarse components keep their larger variance.
    assert spread[1.0] < 3 and spread[0.0] > 10 and spread[1.0] < spread[0.5] < spread[0.0]
    with pytest.raises(ValueError, match="whiten"):
        VAESpec(kind="linear", latent_channels=24, channel_mults=(1, 1, 1), whiten=1.5)


def test_a_linear_spec_takes_at_most_a_cells_values():
    with pytest.raises(ValueError, match="components"):
        VAESpec(kind="linear", latent_channels=193, channel_mults=(1, 1, 1))
    with pytest.raises(ValueError, match="components"):
        VAESpec(kind="linear", latent_channels=0, channel_mults=(1, 1, 1))


def test_training_from_scratch_fits_the_basis_and_the_model_folder_carries_it(tmp_path):
    from sora_cli.research.training.loop import TrainConfig, Trainer
    from sora_cli.weights import load_model

    logs: list[str] = []
    trainer = Trainer(TrainConfig(TINY_LINEAR, tmp_path / "run", 1, 0), logs.append)
    trainer.start()  # no checkpoint and no weights to start from: the fit, and no training step
    assert any("linear latents fitted" in line for line in logs)
    vae = trainer.ema.vae
    assert torch.equal(vae.basis, trainer.net.vae.basis) and not torch.equal(vae.basis, torch.eye(24, 192))
    save_model(trainer.ema, TINY_LINEAR, WordTokenizer(WORDS), tmp_path / "model", torch.float32)
    loaded = load_model(str(tmp_path / "model"), torch.device("cpu"), torch.float32).net.vae
    for name in ("basis", "centre", "latent_std"):
        assert torch.equal(getattr(loaded, name), getattr(vae, name)), name


def test_a_run_that_stops_a_step_short_of_a_snapshot_time_still_takes_that_snapshot(tmp_path):
    from sora_cli.research.training.loop import STEP_SLACK, TrainConfig, Trainer

    trainer = Trainer(TrainConfig(TINY_LINEAR, tmp_path / "run", 1, 0, snapshot_minutes=0.5), lambda _: None)
    trainer.state["dit_seconds"] = 30.0 - STEP_SLACK / 2  # the budget's clock ran out just before 30 s
    trainer._snapshot_if_due()
    assert not (tmp_path / "run" / "snapshots").exists()  # mid-run, a snapshot waits for its time
    trainer._snapshot_if_due(slack=STEP_SLACK)  # the run's end
    assert (tmp_path / "run" / "snapshots" / "min000.5" / "model.safetensors").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_finishes_its_step_and_saves_it(tmp_path, monkeypatch, sig):
    from sora_cli.errors import Terminated
    from sora_cli.research.training import loop
    from sora_cli.research.training.checkpoint import load

    cfg = loop.TrainConfig(TINY_LINEAR, tmp_path / "run", 60, 0, warmup_steps=1, bf16=False)
    logs: list[str] = []
    trainer = loop.Trainer(cfg, logs.append)
    trainer.start()
    step = trainer._dit_step
    finished: list[int] = []

    def signalled_midway(*args):
        if trainer.state["dit_steps"] == 1:
            os.kill(os.getpid(), sig)  # arrives inside the second step
        loss = step(*args)
        finished.append(trainer.state["dit_steps"])
        return loss

    monkeypatch.setattr(trainer, "_dit_step", signalled_midway)
    with pytest.raises(Terminated if sig == signal.SIGTERM else KeyboardInterrupt):
        trainer.run()
    assert finished == [0, 1]  # the step it arrived in ran to its end, and no other began
    fresh = loop.Trainer(cfg, lambda _: None)
    saved = load(cfg.out, fresh.net, fresh.ema, fresh.optims, fresh.extras)
    assert saved["dit_steps"] == 2 and any("interrupted: saved" in line for line in logs)
    assert torch.equal(fresh.net.dit.proj_out.weight, trainer.net.dit.proj_out.weight)
    assert signal.getsignal(sig) is not None and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_every_mode_runs_a_linear_model(fitted, tmp_path, monkeypatch):
    from sora_cli.models.mini.network import VideoModel

    torch.manual_seed(0)
    net = VideoModel(TINY_LINEAR)
    net.vae.load_state_dict(fitted[0].state_dict())
    for name, p in net.dit.named_parameters():
        if "ada" in name or "proj_out" in name or "cross.o" in name:
            torch.nn.init.normal_(p, std=0.05)
    folder = tmp_path / "tiny-linear"
    save_model(net, TINY_LINEAR, WordTokenizer(WORDS), folder)
    monkeypatch.chdir(tmp_path)
    run_every_mode(folder, tmp_path)
