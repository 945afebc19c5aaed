"""Pixel-space sora-mini: exact pixel latents, clean (x) prediction, pooled text, layout targets, recipes."""

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_tiny, run_every_mode

from sora_cli.models.mini.dit import MIN_TIME, DiT
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.pixels import PixelLatents
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.specs import DiTSpec, ModelSpec, TextSpec, VAESpec
from sora_cli.video_io import read_video

PIXELS = VAESpec(kind="pixels", latent_channels=3 * 4 * 16, channel_mults=(1, 1, 1))  # 4x4 pixels x 4 frames
TINY_PIXELS = ModelSpec(
    name="tiny-pixels", vae=PIXELS,
    dit=DiTSpec(dim=32, depth=2, heads=2, predicts="clean", pooled_text=True, frame_positions=True),
    text=TextSpec(vocab_size=64, dim=32, depth=1, heads=2, max_tokens=16),
    window_frames=17, context_frames=5, max_area=64 * 48, steps=3, preview_steps=2,
)


def test_pixel_latents_are_exact_and_keep_the_causal_frame_layout():
    latents = PixelLatents(PIXELS)
    video = torch.rand(2, 3, 9, 16, 24) * 2 - 1
    z = latents.encode(video)
    assert z.shape == (2, 3 * 4 * 16, 3, 4, 6)  # 1 + 8/4 latent frames, 4x4 cells
    assert torch.allclose(latents.decode(z), video)
    image = video[:, :, :1]  # an image is a one-frame video, its own latent frame
    assert torch.allclose(latents.decode(latents.encode(image)), image)
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        latents.encode(video[:, :, :8])


def test_a_pixel_spec_must_have_the_channels_its_geometry_makes():
    with pytest.raises(ValueError, match="channels"):
        VAESpec(kind="pixels", latent_channels=48, channel_mults=(1, 1, 1))
    with pytest.raises(ValueError, match="kind"):
        VAESpec(kind="jpeg")


def test_a_clean_prediction_becomes_the_velocity_of_the_flow():
    torch.manual_seed(0)
    dit = DiT(TINY_PIXELS.dit, PIXELS.latent_channels, 32)
    for p in dit.parameters():  # zero-initialised layers would make every output 0
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(2, PIXELS.latent_channels, 3, 4, 6)
    t = torch.tensor([[0.0, 0.5, 0.9], [1.0, 0.2, 0.03]])
    ctx, mask = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool)
    x0 = dit.network(x, t, ctx, mask)
    expected = (x - x0) / t.clamp_min(MIN_TIME)[:, None, :, None, None]
    assert torch.allclose(dit(x, t, ctx, mask), expected, atol=1e-5)


def test_pooled_text_reaches_every_token_even_before_cross_attention_learns():
    torch.manual_seed(0)
    dit = DiT(TINY_PIXELS.dit, PIXELS.latent_channels, 32)
    torch.nn.init.normal_(dit.text_pool.weight, std=0.5)  # cross-attention outputs still start at zero
    for name, p in dit.named_parameters():
        if "ada" in name or "proj_out" in name:
            torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(1, PIXELS.latent_channels, 2, 4, 4), torch.full((1, 2), 0.8)
    mask = torch.ones(1, 4, dtype=torch.bool)
    a = dit.network(x, t, torch.randn(1, 4, 32), mask)
    b = dit.network(x, t, torch.randn(1, 4, 32), mask)
    assert not torch.allclose(a, b)


def test_the_clean_loss_is_the_velocity_loss_of_the_same_prediction(tmp_path):
    from sora_cli.research.training import loop
    from sora_cli.research.training.data import working_sizes
    from sora_cli.research.world.captions import vocabulary

    spec = replace(TINY_PIXELS, text=TextSpec(vocab_size=256, dim=32, depth=1, heads=2, max_tokens=40))
    torch.manual_seed(0)
    net = VideoModel(spec)
    for name, p in net.dit.named_parameters():
        if "ada" in name or "proj_out" in name:
            torch.nn.init.normal_(p, std=0.05)
    cfg = loop.TrainConfig(spec, tmp_path, 1, 0, time_mean=0.5)
    batch = loop.encode_batch(net, random.Random(0), spec, torch.device("cpu"), working_sizes(spec)[:1])
    captured = {}

    class Spy(torch.optim.SGD):
        def step(self):
            captured["done"] = True

    opt = Spy(net.parameters(), lr=0.0)
    torch.manual_seed(1)
    loss = loop.flow_step(net, opt, random.Random(2), cfg, WordTokenizer(vocabulary()), torch.device("cpu"), batch)
    # The same step by the definition: velocity of the prediction against noise - x0, weighted.
    torch.manual_seed(1)
    z, strength = batch.z, batch.strength
    t = loop.sample_times(cfg, z.shape[0], "cpu")
    t_frame = t[:, None] * (1 - strength)
    rng = random.Random(2)  # as flow_step draws from it: the noise's seed first, then the captions
    from sora_cli.noise import draw

    noise = draw(z.shape, spec.noise, torch.Generator().manual_seed(rng.getrandbits(63)))
    tf5 = t_frame[:, None, :, None, None]
    x_t = (1 - tf5) * z + tf5 * noise
    from sora_cli.models.interface import batch_ids
    from sora_cli.research.training.data import captions_for

    ids, mask, _ = batch_ids(WordTokenizer(vocabulary()), captions_for(batch.scenes, rng, loop.DROP_TEXT),
                             40)
    with torch.no_grad():
        v = net.dit(x_t, t_frame, net.text(ids, mask), mask)
    frames = (1 - strength) * loop.join_weight(strength)  # frames next to given ones weigh more
    weight = (frames[:, None, :, None, None] * (1 + loop.OBJECT_WEIGHT_DIT * batch.objects)).expand_as(v)
    expected = ((v - (noise - z)) ** 2 * weight).sum() / weight.sum()
    assert captured["done"] and loss == pytest.approx(expected.item(), rel=1e-3)


def test_layout_targets_say_what_lies_under_each_token():
    from sora_cli.research.training.data import (
        LAYOUT_FEATURES,
        clip_batch,
        layout_targets,
    )
    from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS

    rng = random.Random(3)
    batch = clip_batch(rng, TINY_PIXELS, 2, 9, (64, 48))
    targets = layout_targets(batch, 9, (64, 48), 4, (8, 8))
    assert targets.shape == (2, 3 * 6 * 8, LAYOUT_FEATURES)
    for i, scene in enumerate(batch.scenes):
        bg = LAYOUT_FEATURES - len(BACKGROUNDS) + list(BACKGROUNDS).index(scene.background)
        assert torch.all(targets[i, :, bg] == 1)
        thing = scene.things[0]
        colour = targets[i, :, list(OBJECT_COLOURS).index(thing.colour)]
        x, y = thing.start  # frame 0 is latent frame 0: tokens 0..47 in row-major order
        assert colour[int(y * 48 / 8) * 8 + int(x * 64 / 8)] > 0  # the token under the object's centre
        assert colour.min() == 0  # and not every token


def test_layout_offsets_point_every_token_of_a_frame_at_its_objects():
    from sora_cli.research.training.data import LAYOUT_FEATURES, OFFSET_FEATURES, clip_batch, layout_targets

    batch = clip_batch(random.Random(3), TINY_PIXELS, 2, 9, (64, 48))
    targets = layout_targets(batch, 9, (64, 48), 4, (8, 8), offsets=True)
    assert torch.equal(targets[..., :LAYOUT_FEATURES], layout_targets(batch, 9, (64, 48), 4, (8, 8)))
    offsets = targets[..., LAYOUT_FEATURES:]
    assert offsets.shape == (2, 3 * 6 * 8, OFFSET_FEATURES)
    for i, scene in enumerate(batch.scenes):
        x, y = scene.things[0].start
        first = offsets[i, :48].reshape(6, 8, OFFSET_FEATURES)  # latent frame 0 is the clip's frame 0
        assert torch.all(first[..., 0] == 1)
        for row, col in ((0, 0), (5, 7), (2, 3)):  # token centre + offset = the object's centre, from anywhere
            centre = ((col + 0.5) / 8 + first[row, col, 1].item(), (row + 0.5) / 6 + first[row, col, 2].item())
            assert centre == pytest.approx((x, y), abs=0.03)
        if len(scene.things) == 1:
            assert torch.all(offsets[i, :, 3:] == 0)  # no second object: nothing to point at


@pytest.fixture(scope="module")
def tiny_pixels(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("models") / "tiny-pixels", TINY_PIXELS)


def test_every_mode_runs_a_pixel_model_and_animate_keeps_the_image(tiny_pixels, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_every_mode(tiny_pixels, tmp_path)
    still = read_video(tmp_path / "still.png").frames[0].numpy().astype(float)
    first = read_video(tmp_path / "a.mp4").frames[0].numpy().astype(float)
    assert 10 * np.log10(255**2 / np.mean((still - first) ** 2)) > 30
