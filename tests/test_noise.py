"""The starting noise: white keeps every seed's video; smooth noise is unit normal, shared as specified,
and the same in training and sampling."""

import random
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange
from test_token_masking import VELOCITY

from sora_cli.engine import Engine, Settings
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.noise import WHITE, NoiseSpec, _gaussian, draw
from sora_cli.research.training import loop
from sora_cli.research.training.data import working_sizes
from sora_cli.research.world.captions import vocabulary
from sora_cli.weights import load_model

SHAPE = (8, 16, 6, 10, 18)  # (B, C, T, H, W): a full 16:9 window of linear latents, shortened


def neighbour_corr(x: torch.Tensor) -> float:
    return (x[..., 1:] * x[..., :-1]).mean().item()


def frame_corr(x: torch.Tensor) -> float:
    return (x[:, :, 1:] * x[:, :, :-1]).mean().item()


def test_white_noise_is_drawn_as_the_engine_always_drew_it():
    b, c, t, h, w = SHAPE
    old = rearrange(torch.randn((b * t, c, h, w), generator=torch.Generator().manual_seed(5)),
                    "(b t) c h w -> b c t h w", b=b)
    assert torch.equal(draw(SHAPE, WHITE, torch.Generator().manual_seed(5)), old)


@pytest.mark.parametrize("pool", [1, 2])
def test_smooth_noise_is_unit_normal_and_shared_with_neighbours_and_frames_as_specified(pool):
    spec = NoiseSpec(smooth=0.6, width=0.2, frame_corr=0.8)
    x = draw(SHAPE, spec, torch.Generator().manual_seed(0), pool)
    assert x.shape == SHAPE
    assert x.mean().item() == pytest.approx(0.0, abs=0.05)
    assert x.std().item() == pytest.approx(1.0, abs=0.05)
    # The field's correlation between neighbouring cells is its kernel's overlap with itself one cell on.
    k = _gaussian(spec.width * min(SHAPE[3:]) * pool)
    overlap = (k[1:] * k[:-1]).sum().item() if pool == 1 else None
    if overlap is not None:
        assert neighbour_corr(x) == pytest.approx(spec.smooth * overlap, abs=0.05)
    assert neighbour_corr(x) > 0.3  # white noise: 0
    assert frame_corr(x) == pytest.approx(spec.smooth * spec.frame_corr, abs=0.06)
    assert abs(neighbour_corr(draw(SHAPE, WHITE, torch.Generator().manual_seed(0), pool))) < 0.02


def test_a_preview_pools_its_full_renders_noise_so_both_share_one_composition():
    spec = NoiseSpec(smooth=1.0, width=0.15, frame_corr=0.9)
    b, c, t, h, w = SHAPE
    full = draw(SHAPE, spec, torch.Generator().manual_seed(2))
    small = draw((b, c, t, h // 2, w // 2), spec, torch.Generator().manual_seed(2), pool=2)
    pooled = F.avg_pool3d(full, (1, 2, 2))
    assert torch.allclose(small / small.std(), pooled / pooled.std(), atol=1e-4)  # the same field, rescaled
    assert small.std().item() == pytest.approx(1.0, abs=0.05)


def test_bad_noise_specs_are_refused():
    for bad in (dict(smooth=1.5), dict(width=0.0), dict(frame_corr=-0.1)):
        with pytest.raises(ValueError, match="noise"):
            NoiseSpec(**bad)


def test_the_engine_samples_from_the_models_own_noise(tiny):
    loaded = load_model(str(tiny), torch.device("cpu"), torch.float32)
    frozen = replace(loaded, spec=replace(loaded.spec, noise=NoiseSpec(smooth=1.0, frame_corr=1.0)))
    s = Settings(prompt="x", negative="", seed=3, steps=1, guidance=1.0, shift=1.0, width=64, height=32)
    white = Engine(loaded)._noise(s, (1, 4, 3, 4, 8), 0)
    smooth = Engine(frozen)._noise(s, (1, 4, 3, 4, 8), 0)
    assert not torch.equal(white[:, :, 0], white[:, :, 1])
    assert torch.allclose(smooth[:, :, 0], smooth[:, :, 1])  # one field, kept over frames


@pytest.mark.parametrize("size", [0, 1])  # a full working size, then its preview
def test_training_noises_clips_with_the_specs_noise_drawn_as_sampling_draws_it(tmp_path, monkeypatch, size):
    spec = replace(VELOCITY, noise=NoiseSpec(smooth=0.7, width=0.3, frame_corr=0.8))
    net = VideoModel(spec)
    cfg = loop.TrainConfig(spec, tmp_path, 1, 0, time_mean=8.0, time_std=0.01)  # t ~ 1: x_t is the noise
    batch = loop.encode_batch(net, random.Random(0), spec, torch.device("cpu"), working_sizes(spec)[size:size + 1])
    batch = replace(batch, z=torch.zeros_like(batch.z), strength=torch.zeros_like(batch.strength))
    seen = {}
    network = net.dit.network

    def spy(x, t, ctx, ctx_mask, extra=None):
        seen["x"] = x.detach().clone()
        return network(x, t, ctx, ctx_mask, extra)

    monkeypatch.setattr(net.dit, "network", spy)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    loop.flow_step(net, opt, random.Random(1), cfg, WordTokenizer(vocabulary()), torch.device("cpu"), batch)
    gen = torch.Generator().manual_seed(random.Random(1).getrandbits(63))  # flow_step's first draw from its rng
    expected = draw(batch.z.shape, spec.noise, gen, pool=2 if size else 1)
    assert torch.allclose(seen["x"], expected, rtol=0, atol=2e-3 * expected.abs().max().item())


def test_a_preview_sized_training_batch_is_noised_as_a_preview_is_sampled():
    net = VideoModel(VELOCITY)
    full, small = working_sizes(VELOCITY)[:2]
    encode = lambda size: loop.encode_batch(net, random.Random(0), VELOCITY, torch.device("cpu"), [size])  # noqa: E731
    assert not encode(full).preview and encode(small).preview  # so flow_step draws its noise pooled, as the engine
