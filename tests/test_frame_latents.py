"""Scene latents: one vector a frame, drawn at any size; what the renderer knows of a frame; the engine,
training and every mode over them."""

import math
import random
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from conftest import build_tiny, run_every_mode

from sora_cli.engine import Engine, Settings
from sora_cli.jobs import Job
from sora_cli.models.mini.frame_latents import (
    ANGLES,
    BACKGROUND,
    CENTRE,
    MARKS,
    PHASE,
    SCENE_LAYOUT,
    SHAPE,
    SLOT,
    SPACING,
    FrameLatents,
    coordinates,
    shape_distance,
    turned,
)
from sora_cli.specs import DiTSpec, ModelSpec, TextSpec, VAESpec
from sora_cli.weights import load_model

FRAME = VAESpec(kind="frame", latent_channels=SCENE_LAYOUT, base_channels=4, channel_mults=(1, 2, 2),
                temporal_down=(False, False))
TINY_FRAME = ModelSpec(
    name="tiny-frame", vae=FRAME,
    dit=DiTSpec(dim=32, depth=2, heads=2, patch=(1, 1, 1), pooled_text=True),
    text=TextSpec(vocab_size=64, dim=32, depth=1, heads=2, max_tokens=16),
    window_frames=17, context_frames=5, max_area=64 * 48, steps=3, preview_steps=2,
)


def test_a_frame_is_one_latent_vector_drawn_at_whatever_size_is_asked():
    torch.manual_seed(0)
    latents = FrameLatents(FRAME)
    video = torch.rand(2, 3, 5, 24, 40) * 2 - 1
    z = latents.encode(video)
    assert z.shape == (2, SCENE_LAYOUT, 5, 1, 1)  # time is not compressed: any frame count
    assert latents.latent_frames(6) == 6
    assert latents.decode(z, size=(24, 40)).shape == (2, 3, 5, 24, 40)
    assert latents.decode(z, size=(40, 24)).shape == (2, 3, 5, 40, 24)
    # streaming a frame at a time draws the same frames
    assert torch.allclose(latents.decode(z, chunk=1, size=(24, 40)), latents.decode(z, chunk=5, size=(24, 40)),
                          atol=1e-5)
    with pytest.raises(ValueError, match="size"):
        latents.decode(z)
    with pytest.raises(ValueError, match=f"{SCENE_LAYOUT} channels"):
        FrameLatents(replace(FRAME, latent_channels=8))


def test_scene_latents_say_what_the_renderer_draws():
    from sora_cli.research.training.scene_latents import scene_latents
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import Scene, Thing
    from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS

    ball = Thing("red", "circle", "large", "right", None, (0.3, 0.5))
    box = Thing("blue", "square", "small", "down", None, (0.8, 0.2))
    scene = Scene("sand", (ball, box), size_said=(True, True))
    z = scene_latents(scene, 144, 80, 13, t0=0.5)
    video = render(scene, 144, 80, 13, t0=0.5).float()
    assert z.shape == (13, SCENE_LAYOUT)
    assert torch.allclose(z[:, :3] * 127.5 + 127.5, torch.tensor(BACKGROUNDS["sand"], dtype=torch.float32))
    assert torch.all(z[:, 3] == -1)  # in colour
    assert torch.all(z[:, MARKS] == -1)  # no camera, no marks
    for slot, (thing, start) in enumerate(((ball, BACKGROUND), (box, BACKGROUND + SLOT))):
        assert torch.all(z[:, start] == 1)  # present
        assert torch.allclose(z[:, start + 1:start + 4] * 127.5 + 127.5,
                              torch.tensor(OBJECT_COLOURS[thing.colour], dtype=torch.float32))
        shape = z[0, start + 4:start + 7].tolist()
        assert shape == ([1.0, -1.0, -1.0] if thing.shape == "circle" else [-1.0, 1.0, -1.0])
        # the centre the latent says is where the object's pixels are
        mask = (video - torch.tensor(OBJECT_COLOURS[thing.colour], dtype=torch.float32)).abs().amax(-1) < 40
        for f in (0, 12):
            ys, xs = torch.nonzero(mask[f], as_tuple=True)
            x, y = (xs.float().mean() + 0.5) / 144 * 2 - 1, (ys.float().mean() + 0.5) / 80 * 2 - 1
            assert z[f, start + 7].item() == pytest.approx(x.item(), abs=0.03)
            assert z[f, start + 8].item() == pytest.approx(y.item(), abs=0.05)
    a, b = BACKGROUND, BACKGROUND + SLOT
    assert z[12, a + CENTRE] > z[0, a + CENTRE] and z[12, b + CENTRE + 1] > z[0, b + CENTRE + 1]  # right, down
    alone = scene_latents(Scene("night", (ball,)), 144, 80, 1)
    assert alone[0, b] == -1 and torch.all(alone[0, b + 1:] == 0)  # an empty slot


def test_scene_latents_say_what_the_camera_shows():
    from sora_cli.research.training.scene_latents import scene_latents
    from sora_cli.research.world.camera import MARK_SPACING, Camera, mark_colour
    from sora_cli.research.world.render import render
    from sora_cli.research.world.scene import Scene, Thing
    from sora_cli.research.world.vocab import BACKGROUNDS, OBJECT_COLOURS

    ball = Thing("red", "circle", "large", "still", None, (0.5, 0.5))
    width, height = 144, 80
    for camera in (Camera("pan left"), Camera("zoom in"), Camera("still", 0, cut_at=0.5, cut_to="close")):
        scene = Scene("sand", (ball,), camera=camera)
        z = scene_latents(scene, width, height, 25, t0=0.0)
        video = render(scene, width, height, 25).float()
        assert torch.all(z[:, MARKS] == 1)
        red = (video - torch.tensor(OBJECT_COLOURS["red"], dtype=torch.float32)).abs().amax(-1) < 40
        for f in (0, 24):
            ys, xs = torch.nonzero(red[f], as_tuple=True)
            # the object is where the frame shows it, at the size it shows it
            assert z[f, BACKGROUND + CENTRE].item() == pytest.approx(((xs.float().mean() + 0.5) / width * 2 - 1).item(),
                                                                     abs=0.04)
            side = math.sqrt(len(xs) / math.pi) * 2 / height * 4 - 1
            assert z[f, BACKGROUND + CENTRE + 2].item() == pytest.approx(side, abs=0.15)
            # the marks are where the lattice says: darker pixels every spacing from the phase's point
            spacing = z[f, SPACING].exp().item() * height
            phase = math.atan2(z[f, PHASE + 1].item(), z[f, PHASE].item()) / (2 * math.pi)
            marks = (video[f] - torch.tensor(mark_colour(BACKGROUNDS["sand"]))).abs().amax(-1) < 12
            cols = torch.nonzero(marks.any(0)).flatten().float() + 0.5
            lattice = phase + (cols - width / 2) / spacing
            assert (lattice - lattice.round()).abs().max() < 0.25
        if camera.move == "zoom in":
            assert z[24, SPACING] > z[0, SPACING] + 0.3  # the lattice spreads as the camera zooms
            assert z[0, SPACING].exp() == pytest.approx(MARK_SPACING)
        if camera.cut_at:
            assert z[24, BACKGROUND + CENTRE + 2] > z[0, BACKGROUND + CENTRE + 2] + 0.5  # a close-up


def test_the_dit_sees_a_pans_lattice_as_a_straight_line_and_decoding_gives_its_phase_back():
    from sora_cli.research.training.scene_latents import scene_latents
    from sora_cli.research.world.camera import Camera
    from sora_cli.research.world.scene import Scene, Thing

    ball = Thing("red", "circle", "large", "still", None, (0.5, 0.5))
    latents = FrameLatents(FRAME)
    for move in ("pan left", "pan right", "still"):
        raw = scene_latents(Scene("sand", (ball,), camera=Camera(move)), 144, 80, 49).T[None, :, :, None, None]
        z = latents.normalise(raw)
        for axis in (PHASE, PHASE + 1):  # the offsets along x and y, in lattice spacings
            track = z[0, axis, :, 0, 0]
            assert track.diff().diff().abs().max() < 1e-3  # a straight line (a pan at constant speed)
        moved = z[0, PHASE, -1, 0, 0] - z[0, PHASE, 0, 0, 0]
        if move == "still":
            assert moved.abs() < 1e-4
        else:
            # the world's pans cross more than a lattice spacing in 2 s: cos and sin turn over, the offset does not
            assert moved.abs() > 1 and (moved > 0) == (move == "pan right")
        assert torch.all(z[:, PHASE + 2:PHASE + 4] == 0)
        assert torch.allclose(latents.denormalise(z), raw, atol=1e-5)


def test_training_batches_of_scene_latents_are_exact_and_need_no_rendering():
    from sora_cli.models.mini.network import VideoModel
    from sora_cli.research.training import loop
    from sora_cli.research.training.scene_latents import batch_latents

    spec = replace(TINY_FRAME, text=replace(TINY_FRAME.text, vocab_size=256))
    net = VideoModel(spec)
    net.vae.latent_mean.fill_(0.5)
    net.vae.latent_std.fill_(2.0)
    rendered = []
    original = loop.clip_batch

    def spy(*args, **kw):
        out = original(*args, **kw)
        rendered.append(out.video is not None)
        return out

    loop.clip_batch = spy
    try:
        batch = loop.encode_batch(net, random.Random(4), spec, torch.device("cpu"), [(64, 48)])
    finally:
        loop.clip_batch = original
    assert rendered == [False]
    raw = batch_latents(batch.scenes, [0.0] * len(batch.scenes), 64, 48, 1)
    length = batch.z.shape[2]
    if length == spec.window_frames:  # clips may start later in their scenes: compare each at its own start
        raw = torch.cat([batch_latents([s], [0.0], 64, 48, length) for s in batch.scenes])
    starts_at_zero = [i for i in range(len(batch.scenes)) if batch.strength[i].sum() == 0]
    for i in starts_at_zero:
        assert torch.allclose(batch.z[i], net.vae.normalise(raw[i:i + 1])[0], atol=1e-6)
    assert torch.all(batch.objects == 1)


def test_the_decoder_knows_where_it_draws_in_fractions_of_the_frame_and_of_its_shorter_side():
    c = coordinates(4, 8, "cpu", torch.float32)
    x, y, xs, ys, aspect = c[:5]
    assert torch.allclose(x[0], (torch.arange(8) + 0.5) / 8 * 2 - 1)
    assert torch.allclose(y[:, 0], (torch.arange(4) + 0.5) / 4 * 2 - 1)
    assert torch.allclose(xs, x * 2) and torch.allclose(ys, y)  # 8 wide is twice the shorter side
    assert torch.allclose(aspect, torch.full_like(x, 0.6931), atol=1e-4)


def test_frame_latents_keep_one_grid_at_every_size_so_a_preview_draws_its_full_renders_noise():
    assert FRAME.latent_hw(48, 64) == FRAME.latent_hw(24, 32) == (1, 1)
    assert FRAME.noise_pool(preview=True) == 1 and VAESpec().noise_pool(preview=True) == 2
    assert VAESpec().noise_pool(preview=False) == 1
    assert VAESpec().latent_hw(48, 64) == (6, 8)
    with pytest.raises(ValueError, match="time"):
        VAESpec(kind="frame", channel_mults=(1, 2), temporal_down=(True,))


def test_a_preview_is_the_full_renders_latents_drawn_smaller(tmp_path):
    model = load_model(str(build_tiny(tmp_path / "m", TINY_FRAME)), torch.device("cpu"), torch.float32)
    engine = Engine(model)
    s = Settings(prompt="a red ball", negative="", seed=3, steps=2, guidance=2.0, shift=3.0, width=64, height=48,
                 preview=False)
    shapes = {}
    original = model.net.vae.decode

    def spy(latents, chunk=None, size=None):
        shapes[size] = latents.clone()
        return original(latents, chunk, size)

    model.net.vae.decode = spy
    full = engine.window(s, 9, [])
    small = engine.window(replace(s, preview=True, width=32, height=24), 9, [])
    assert full.shape == (9, 48, 64, 3) and small.shape == (9, 24, 32, 3)
    # same noise, same steps: the same latents, drawn at two sizes
    assert torch.allclose(shapes[(48, 64)], shapes[(24, 32)], atol=1e-5)


def test_the_autoencoder_learns_single_frames_drawn_at_any_time_of_their_scene(monkeypatch):
    from sora_cli.research.training import loop

    spec = replace(TINY_FRAME, text=replace(TINY_FRAME.text, vocab_size=256))
    torch.manual_seed(0)
    from sora_cli.models.mini.network import VideoModel

    net = VideoModel(spec)
    opt = torch.optim.AdamW(net.vae.parameters(), lr=3e-3)
    seen = []
    original = loop.clip_batch

    def spy(rng, spec, batch, frames, size, **kw):
        out = original(rng, spec, batch, frames, size, **kw)
        seen.append((frames, kw.get("still_times", 0.0)))
        return out

    monkeypatch.setattr(loop, "clip_batch", spy)
    first = [loop.vae_step(net, opt, random.Random(i), spec, torch.device("cpu")) for i in range(3)]
    for i in range(40):
        loop.vae_step(net, opt, random.Random(i % 3), spec, torch.device("cpu"))
    last = [loop.vae_step(net, opt, random.Random(i), spec, torch.device("cpu")) for i in range(3)]
    assert all(s == (1, loop.FRAME_VAE_TIMES) for s in seen)
    assert sum(last) < 0.8 * sum(first)


def test_still_frames_come_from_any_time_of_their_scene():
    from sora_cli.research.training.data import clip_batch

    batch = clip_batch(random.Random(0), TINY_FRAME, 8, 1, (32, 24), still_times=5.0)
    assert len({round(t, 3) for t in batch.starts}) == 8 and max(batch.starts) < 5.0
    assert set(clip_batch(random.Random(0), TINY_FRAME, 8, 1, (32, 24)).starts) == {0.0}


def test_every_mode_runs_on_frame_latents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_every_mode(build_tiny(tmp_path / "frame", TINY_FRAME), tmp_path)


def test_an_encoder_is_scored_against_the_slot_order_that_fits_it():
    from sora_cli.research.training.scene_latents import scene_latents, slot_orders
    from sora_cli.research.world.scene import Scene, Thing

    ball = Thing("red", "circle", "large", "right", None, (0.3, 0.5))
    box = Thing("blue", "square", "small", "down", None, (0.8, 0.2))
    one, other = (scene_latents(Scene("sand", things), 144, 80, 1) for things in ((ball, box), (box, ball)))
    same, swapped = slot_orders(one)
    assert torch.equal(same, one) and torch.equal(swapped, other)
    assert torch.equal(slot_orders(swapped)[1], one)


def test_latent_statistics_never_make_a_rare_value_loud():
    from sora_cli.models.mini.network import VideoModel
    from sora_cli.research.training import loop

    spec = replace(TINY_FRAME, text=replace(TINY_FRAME.text, vocab_size=256), window_frames=5)
    net = VideoModel(spec)
    loop.measure_latent_stats(net, spec, random.Random(0), torch.device("cpu"))
    std = net.vae.latent_std
    assert torch.all(std >= 0.25 * std.median() - 1e-6)
    assert std[BACKGROUND] < 0.5  # slot 0 is always present: floored, not measured as 1
    assert std[3] > 0.3  # black and white is seen among the clips


def _slot(angle: float) -> torch.Tensor:
    """A raw slot-0 part (B=1) at `angle`, with its cos and sin of 3 and 4 times it where the layout keeps them."""
    part = torch.zeros(1, SLOT)
    a = torch.tensor(angle)
    part[0, ANGLES:ANGLES + 4] = torch.stack([torch.cos(3 * a), torch.sin(3 * a), torch.cos(4 * a), torch.sin(4 * a)])
    return part


def test_a_slot_turns_its_pixels_into_the_shapes_own_frame_as_the_renderer_does():
    offset = torch.randn(1, 50, 2)
    dx, dy = offset[..., :1], offset[..., 1:]
    for degrees in (-50, -20, 0, 15, 40):
        a = math.radians(degrees)
        c, s = math.cos(a), math.sin(a)
        renderer = torch.cat([c * dx + s * dy, -s * dx + c * dy], dim=-1)  # render.distance's qx, qy
        assert torch.allclose(turned(offset, _slot(a), 3), renderer, atol=1e-5)
        if abs(degrees) < 45:
            assert torch.allclose(turned(offset, _slot(a), 4), renderer, atol=1e-5)
        # a square turned by a quarter is the same square: its frame is read up to that symmetry
        assert torch.allclose(turned(offset, _slot(a + math.pi / 2), 4), turned(offset, _slot(a), 4), atol=1e-4)


def test_a_slot_is_given_the_signed_distance_the_renderer_draws_its_shape_with():
    from sora_cli.research.world.render import distance
    from sora_cli.research.world.vocab import SHAPES

    torch.manual_seed(0)
    offset = torch.rand(400, 2) * 1.6 - 0.8  # in slot sizes from the centre
    size = 20.0  # pixels
    for degrees in (-50, 0, 33):
        a = math.radians(degrees)
        for k, shape in enumerate(SHAPES):
            part = _slot(a).expand(400, -1).clone()
            part[:, SHAPE:SHAPE + 3] = -1.0
            part[:, SHAPE + k] = 1.0
            world = distance(shape, offset[:, 0] * size, offset[:, 1] * size, torch.zeros(1), torch.zeros(1),
                             torch.tensor([size]), torch.tensor([a]))[0] / size
            assert torch.allclose(shape_distance(offset, part)[:, 0], world, atol=2e-3), (shape, degrees)


def test_a_decoder_whose_slot_mlp_adds_nothing_draws_the_worlds_frames_from_their_latents():
    from sora_cli.research.training.scene_latents import scene_latents
    from sora_cli.research.world.render import coverage
    from sora_cli.research.world.render import render as render_world
    from sora_cli.research.world.scene import random_scene

    torch.manual_seed(0)
    decoder = FrameLatents(FRAME).decoder
    with torch.no_grad():
        decoder.slot[-1].weight.zero_()
        decoder.slot[-1].bias.zero_()
    rng = random.Random(3)
    errors = []
    for _ in range(4):
        scene = replace(random_scene(rng, two_objects=0.5, bw=0.0), camera=None)
        truth = render_world(scene, 128, 96, 1)[0].float() / 127.5 - 1  # (H, W, 3)
        drawn = decoder(scene_latents(scene, 128, 96, 1), 96, 128)[0].permute(1, 2, 0)
        # the background MLP is untrained, so compare inside the objects: pixels the world covers whole, as it
        # does their four neighbours (an edge pixel mixes in the background)
        full = F.pad(coverage(scene, 128, 96, 1).amax(0)[0] >= 1, (1, 1, 1, 1))
        inside = full[1:-1, 1:-1] & full[:-2, 1:-1] & full[2:, 1:-1] & full[1:-1, :-2] & full[1:-1, 2:]
        errors.append((drawn[inside] - truth[inside]).abs())
    errors = torch.cat(errors)
    assert errors.shape[0] > 50
    assert errors.mean() < 0.05


def test_an_absent_slot_draws_nothing():
    torch.manual_seed(0)
    decoder = FrameLatents(FRAME).decoder
    z = torch.randn(2, SCENE_LAYOUT)
    z[:, BACKGROUND + SLOT] = -1  # slot 1 is absent: whatever else it says is not drawn
    other = z.clone()
    other[:, BACKGROUND + SLOT + 1:] = torch.randn(2, SLOT - 1)
    assert torch.allclose(decoder(z, 24, 40), decoder(other, 24, 40), atol=2e-3)
    z[:, BACKGROUND + SLOT] = 1
    other[:, BACKGROUND + SLOT] = 1
    assert not torch.allclose(decoder(z, 24, 40), decoder(other, 24, 40), atol=2e-3)


def test_refining_moves_the_encoders_latents_until_they_draw_the_frames_given():
    torch.manual_seed(0)
    latents = FrameLatents(replace(FRAME, refine_steps=30))
    with torch.no_grad():
        video = latents.decode_raw(torch.randn(2, SCENE_LAYOUT, 3, 1, 1), size=(24, 40)).clamp(-1, 1)

        def error(z):
            return (latents.decode(z, size=(24, 40)) - video).abs().mean().item()

        guess = latents.normalise(latents.encode_moments(video)[0])
        refined = latents.encode(video)  # as the engine calls it: under no_grad
    assert refined.shape == guess.shape == (2, SCENE_LAYOUT, 3, 1, 1)
    assert error(refined) < 0.7 * error(guess)
    # with no steps, encoding is the encoder's guess
    plain = FrameLatents(FRAME)
    plain.load_state_dict(latents.state_dict())
    with torch.no_grad():
        assert torch.equal(plain.encode(video), guess)


def test_the_encoder_reads_large_frames_at_the_sizes_it_trained_at():
    from sora_cli.models.mini.frame_latents import READ_AREA

    torch.manual_seed(0)
    latents = FrameLatents(FRAME)
    big = torch.rand(1, 3, 2, 96, 160) * 2 - 1
    assert 96 * 160 > READ_AREA
    with torch.no_grad():
        scale = math.sqrt(READ_AREA / (96 * 160))
        small = F.interpolate(big[:, :, 0], size=(round(96 * scale), round(160 * scale)), mode="area")
        assert torch.allclose(latents.encode_moments(big)[0][:, :, :1], latents.encode_moments(small[:, :, None])[0],
                              atol=1e-5)
        fits = big[..., :40, :64]  # small enough: read as it is
        assert not torch.allclose(latents.encode_moments(fits)[0],
                                  latents.encode_moments(F.avg_pool3d(fits, (1, 2, 2)))[0], atol=1e-3)


def test_encodings_are_snapped_to_the_values_the_worlds_latents_take():
    from sora_cli.models.mini.frame_latents import BW, DISCRETE, SHAPE, snap

    torch.manual_seed(0)
    z = torch.randn(6, SCENE_LAYOUT)
    z[:3, BACKGROUND + SLOT] = -0.3  # slot 1 half absent in the first three
    out = snap(z)
    assert set(out[:, [BW, MARKS]].flatten().tolist()) <= {-1.0, 1.0}
    for k in range(2):
        part = out[:, BACKGROUND + SLOT * k:BACKGROUND + SLOT * (k + 1)]
        shown = part[:, 0] == 1
        assert torch.all(shown | (part[:, 0] == -1))
        assert torch.all(part[~shown, 1:] == 0)  # an absent slot is -1 then zeros, as the DiT learned it
        shapes = part[shown, SHAPE:SHAPE + 3]
        assert torch.all((shapes == 1).sum(1) == 1) and torch.all((shapes == 1) | (shapes == -1))
        for pair in (ANGLES, ANGLES + 2):
            assert torch.allclose(part[shown, pair:pair + 2].norm(dim=1), torch.ones(int(shown.sum())))
    assert torch.all(out[:3, BACKGROUND + SLOT] == -1)
    assert torch.allclose(snap(out), out)
    # refining moves only what the snap left continuous
    latents = FrameLatents(replace(FRAME, refine_steps=5))
    with torch.no_grad():
        video = latents.decode_raw(torch.randn(2, SCENE_LAYOUT, 1, 1, 1), size=(24, 40)).clamp(-1, 1)
        guess = latents.encode_moments(video)[0]
        refined = latents.refine(guess, video)
    flat = snap(guess[:, :, :, 0, 0].transpose(1, 2).reshape(-1, SCENE_LAYOUT))
    after = refined[:, :, :, 0, 0].transpose(1, 2).reshape(-1, SCENE_LAYOUT)
    assert torch.equal(after[:, DISCRETE], flat[:, DISCRETE])
    assert not torch.allclose(after[:, ~DISCRETE], flat[:, ~DISCRETE])


def test_a_frame_without_marks_is_given_the_lattice_the_world_writes_for_it():
    from sora_cli.models.mini.frame_latents import snap, still_lattice
    from sora_cli.research.training.scene_latents import scene_latents
    from sora_cli.research.world.scene import random_scene

    rng = random.Random(3)
    for width, height in ((256, 144), (144, 256), (112, 112), (80, 48)):
        scene = random_scene(rng, camera=0.0)
        lattice = scene_latents(scene, width, height, 2)[:, SPACING:PHASE + 4]
        assert torch.allclose(lattice, still_lattice(width, height).expand(2, -1), atol=1e-5)
    # the encoder's guess of a lattice no pixel shows is replaced; a frame with marks keeps its own
    torch.manual_seed(0)
    z = torch.randn(4, SCENE_LAYOUT)
    z[:2, MARKS], z[2:, MARKS] = -0.5, 0.5
    out = snap(z, (144, 256))
    assert torch.allclose(out[:2, SPACING:PHASE + 4], still_lattice(256, 144).expand(2, -1))
    assert torch.allclose(out[2:, SPACING:PHASE + 4], snap(z)[2:, SPACING:PHASE + 4])
    assert not torch.allclose(out[2:, SPACING:PHASE + 4], still_lattice(256, 144).expand(2, -1))


def test_training_clips_are_given_as_many_frames_as_a_chained_window_is():
    from sora_cli.research.training.data import clip_batch

    batch = clip_batch(random.Random(0), TINY_FRAME, 200, TINY_FRAME.window_frames, (32, 24), draw=False)
    given = {k for mode, k in zip(batch.cond, batch.cond_latents) if mode in ("first_k", "last_k")}
    assert given == set(range(1, TINY_FRAME.context_frames + 1))  # one latent a frame: 1 to context_frames


def test_the_frames_next_to_given_ones_weigh_more_in_the_dits_loss():
    from sora_cli.research.training.loop import join_weight

    strength = torch.zeros(3, 12)
    strength[0, :2] = 1  # given first frames
    strength[1, -1] = 1  # a given last frame
    w = join_weight(strength, extra=3.0, reach=2.0)
    assert torch.all(w[2] == 1)  # nothing given: every frame counts alike
    assert w[0, 2] == pytest.approx(4.0) and torch.all(w[0, 3:].diff() < 0) and w[0, -1] < 1.1
    assert w[1, -2] == pytest.approx(4.0) and torch.all(w[1, :-1].diff() > 0)


def test_a_window_keeps_what_the_world_keeps_for_a_whole_clip():
    from sora_cli.models.mini.frame_latents import STEADY, WHERE

    latents = FrameLatents(FRAME)
    torch.manual_seed(0)
    z = torch.randn(2, SCENE_LAYOUT, 9, 1, 1)
    given = torch.tensor([1.0, 1.0] + [0.0] * 7)
    out = latents.settle(z, given, torch.zeros(9, dtype=torch.bool))  # given as context: nothing continued
    # background colour, flags, slot colours and shapes: the given frames' in every frame
    assert torch.allclose(out[:, STEADY], z[:, STEADY, :2].mean(2, keepdim=True).expand(-1, -1, 9, 1, 1))
    assert torch.equal(out[:, ~STEADY], z[:, ~STEADY])  # where things are, and how big, move as sampled
    assert not torch.any(STEADY & WHERE)
    # nothing given: what most frames say
    out = latents.settle(z, torch.zeros(9), torch.zeros(9, dtype=torch.bool))
    assert torch.allclose(out[:, STEADY], z[:, STEADY].median(2, keepdim=True).values.expand(-1, -1, 9, 1, 1))
    # a grid of latents keeps nothing of the kind
    from sora_cli.models.mini.pixels import PixelLatents

    assert PixelLatents.settle(None, z, given, given > 0) is z


def test_a_join_takes_no_bigger_step_than_the_frames_after_it():
    from sora_cli.models.mini.frame_latents import TRACKS, continue_tracks

    torch.manual_seed(0)
    frames = torch.arange(12, dtype=torch.float32)
    z = torch.randn(1, SCENE_LAYOUT, 1, 1, 1) + 0.1 * frames.view(1, 1, -1, 1, 1)  # every channel moves steadily
    z[:, :, 2:] += 0.5  # the sampled frames jump away from the two given ones
    first = torch.tensor([True, True] + [False] * 10)
    out = continue_tracks(z, first, ramp=4)
    steps, sampled = out[0, TRACKS, :, 0, 0].diff(dim=1), z[0, TRACKS, :, 0, 0].diff(dim=1)
    assert torch.allclose(steps[:, 1], sampled[:, 2], atol=1e-5)  # the join's step is the model's next one
    assert torch.allclose(out[:, :, 6:], z[:, :, 6:]) and torch.equal(out[:, :, :2], z[:, :, :2])
    assert torch.equal(out[:, ~TRACKS], z[:, ~TRACKS])
    # given frames at the end (a loop's, a bridge's): the same, backwards in time
    z = torch.randn(1, SCENE_LAYOUT, 1, 1, 1) + 0.1 * frames.view(1, 1, -1, 1, 1)
    z[:, :, :-2] -= 0.5
    out = continue_tracks(z, first.flip(0), ramp=4)
    steps, sampled = out[0, TRACKS, :, 0, 0].diff(dim=1), z[0, TRACKS, :, 0, 0].diff(dim=1)
    assert torch.allclose(steps[:, -2], sampled[:, -3], atol=1e-5)
    # nothing joined (a cut's context): as sampled
    assert torch.equal(continue_tracks(z, torch.zeros(12, dtype=torch.bool)), z)


def test_smoothing_takes_the_wobble_out_of_new_frames_tracks_and_leaves_given_frames_and_a_cut_alone():
    from sora_cli.models.mini.frame_latents import TRACKS, smooth_tracks

    torch.manual_seed(0)
    frames = torch.arange(16, dtype=torch.float32)
    line = torch.randn(1, SCENE_LAYOUT, 1, 1, 1) + 0.1 * frames.view(1, 1, -1, 1, 1)  # steady motion
    wobble = torch.where(frames % 2 == 0, 0.05, -0.05).view(1, 1, -1, 1, 1)
    given = torch.tensor([True] * 4 + [False] * 12)
    z = line + wobble
    z[:, :, 4:] += 1.0  # a cut: the new frames jump away from the given ones
    out = smooth_tracks(z, ~given, 2)
    assert torch.equal(out[:, :, :5], z[:, :, :5])  # the given frames, and the cut's first new frame
    assert torch.equal(out[:, ~TRACKS], z[:, ~TRACKS]) and torch.equal(out[:, :, -1], z[:, :, -1])
    second = out[0, TRACKS, 5:-1, 0, 0].diff(dim=1).diff(dim=1).abs().mean()
    assert second < 0.5 * z[0, TRACKS, 5:-1, 0, 0].diff(dim=1).diff(dim=1).abs().mean()
    # a steady motion passes unchanged; no passes, or no new frames, change nothing
    assert torch.allclose(smooth_tracks(line, ~given, 2), line, atol=1e-5)
    assert torch.equal(smooth_tracks(z, ~given, 0), z) and torch.equal(smooth_tracks(z, given & False, 2), z)


def test_the_engine_draws_a_window_with_its_steady_channels_held_at_the_given_frames(tmp_path):
    from sora_cli.conditioning import Condition
    from sora_cli.models.mini.frame_latents import STEADY

    model = load_model(str(build_tiny(tmp_path / "m", TINY_FRAME)), torch.device("cpu"), torch.float32)
    s = Settings(prompt="a red ball", negative="", seed=3, steps=2, guidance=2.0, shift=3.0, width=64, height=48)
    drawn = {}
    original = model.net.vae.decode

    def spy(latents, chunk=None, size=None):
        drawn["z"] = latents.clone()
        return original(latents, chunk, size)

    model.net.vae.decode = spy
    image = torch.rand(1, 3, 48, 64) * 2 - 1
    Engine(model).window(s, 9, [Condition(image, 0)])
    given = model.net.vae.encode(image.permute(1, 0, 2, 3).unsqueeze(0))
    z = drawn["z"]
    assert torch.allclose(z[:, STEADY], given[:, STEADY].expand_as(z[:, STEADY]), atol=1e-5)
    assert not torch.allclose(z[:, ~STEADY, 1:], given[:, ~STEADY].expand_as(z[:, ~STEADY, 1:]), atol=1e-3)


def test_a_cut_sees_the_shot_before_as_context_and_does_not_continue_it(tmp_path):
    from sora_cli.storyboard import Shot, Storyboard, shot_job

    model = load_model(str(build_tiny(tmp_path / "m", TINY_FRAME)), torch.device("cpu"), torch.float32)
    seen = []
    original = model.net.vae.settle

    def spy(latents, strength, joined):
        seen.append(joined.clone())
        return original(latents, strength, joined)

    model.net.vae.settle = spy
    before = (torch.rand(5, 48, 64, 3) * 255).to(torch.uint8)
    for cut in (False, True):
        s = Settings(prompt="a red ball", negative="", seed=3, steps=2, guidance=2.0, shift=3.0, width=64, height=48,
                     cut=cut)
        Engine(model).chain(s, 8, start=before)
        assert seen[-1].any() != cut  # continued: the given frames are joined; cut: none is
    # a storyboard's cut, for a model trained for cuts, is an extend that cuts
    board = Storyboard((Shot("a red ball", 1.0, "cut"), Shot("a close-up of the red ball", 1.0, "cut"),
                        Shot("the red ball moves right", 1.0, "continue")), {})
    base = Job(mode="generate", prompt="a red ball", seed=1, model="", width=64, height=48, fps=24.0, frames=1)
    assert shot_job(base, board, 1, before, cuts_in_context=True).cut
    assert not shot_job(base, board, 2, before, cuts_in_context=True).cut


@pytest.mark.parametrize("backward", [False, True])
def test_a_chain_hands_on_the_latents_of_frames_it_drew_instead_of_encoding_them_again(tmp_path, monkeypatch, backward):
    from conftest import TINY

    import sora_cli.engine as engine_module

    s = Settings(prompt="a red ball", negative="", seed=3, steps=2, guidance=2.0, shift=3.0, width=64, height=48)
    given = (torch.rand(5, 48, 64, 3) * 255).to(torch.uint8)
    original_place = engine_module.place
    for spec, carries in ((TINY_FRAME, True), (TINY, False)):  # TINY's latent frame is 4 frames: no slice of them
        model = load_model(str(build_tiny(tmp_path / spec.name, spec)), torch.device("cpu"), torch.float32)
        placed, settled = [], []
        original_settle = model.net.vae.settle

        def place_spy(conditions, vae, init):
            placed.append([c.latents for c in conditions])
            return original_place(conditions, vae, init)

        def settle_spy(latents, strength, joined):
            settled.append(original_settle(latents, strength, joined))
            return settled[-1]

        monkeypatch.setattr(engine_module, "place", place_spy)
        model.net.vae.settle = settle_spy
        engine = Engine(model)
        out = engine.chain_backward(s, 40, given) if backward else engine.chain(s, 40, start=given)
        assert out.frames.shape[0] == 40 and len(placed) >= 3
        # what it hands back are the latents of its frames, window by window, as drawn
        assert (out.latents is not None) == carries
        if carries:
            assert out.latents.shape[2] == 40
            first_made = settled[0][:, :, :-5] if backward else settled[0][:, :, 5:]
            edge = out.latents[:, :, -first_made.shape[2]:] if backward else out.latents[:, :, :first_made.shape[2]]
            assert torch.equal(edge, model.net.vae.denormalise(first_made))
        assert placed[0] == [None]  # the given frames are encoded
        for k in range(1, len(placed)):
            (z,) = placed[k]
            assert (z is not None) == carries
            if carries:  # the context's latents are those the window before drew them from, at raw scale
                c = z.shape[2]
                before = settled[k - 1]
                expected = before[:, :, :c] if backward else before[:, :, -c:]
                assert torch.equal(z, model.net.vae.denormalise(expected))


def test_given_latents_are_placed_as_a_window_that_starts_with_them_sees_them_and_frames_without_are_encoded(
        tmp_path):
    from sora_cli.conditioning import Condition, place

    vae = load_model(str(build_tiny(tmp_path / "m", TINY_FRAME)), torch.device("cpu"), torch.float32).net.vae
    frames = torch.rand(3, 3, 48, 64) * 2 - 1
    z = torch.randn(1, SCENE_LAYOUT, 3, 1, 1)
    init = torch.zeros(1, SCENE_LAYOUT, 8, 1, 1)
    placed, strength, _ = place([Condition(frames, 0, latents=z), Condition(frames, -3)], vae, init)
    assert torch.equal(placed[:, :, :3], vae.normalise(z))
    assert torch.allclose(placed[:, :, -3:], vae.encode(frames.permute(1, 0, 2, 3).unsqueeze(0)), atol=1e-5)
    assert strength.tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
    # a long pan's lattice offset, 3 turns on as the window before saw it, starts this window within half a turn
    seen = torch.zeros(1, SCENE_LAYOUT, 3, 1, 1)
    seen[0, PHASE, :, 0, 0] = torch.tensor([3.2, 3.25, 3.3])
    seen[0, PHASE + 1] = -2.0
    placed, _, _ = place([Condition(frames, 0, latents=vae.denormalise(seen))], vae, init)
    assert torch.allclose(placed[0, PHASE, :3, 0, 0], torch.tensor([0.2, 0.25, 0.3]), atol=1e-5)
    assert torch.allclose(placed[0, PHASE + 1, :3], torch.zeros(3, 1, 1), atol=1e-5)


def _two_objects(frames: int, first: tuple[float, float, float], second: tuple[float, float, float],
                 xs: list[float]) -> torch.Tensor:
    """Raw latents (1, z, frames, 1, 1) of two present square slots of these colours, slot 0 at x = xs[t] and
    slot 1 at -xs[t]."""
    from sora_cli.models.mini.frame_latents import COLOUR, PRESENT

    z = torch.zeros(1, SCENE_LAYOUT, frames, 1, 1)
    for k, (colour, sign) in enumerate(((first, 1.0), (second, -1.0))):
        base = BACKGROUND + SLOT * k
        z[0, base + PRESENT] = 1.0
        z[0, base + COLOUR:base + COLOUR + 3] = torch.tensor(colour)[:, None, None, None]
        z[0, base + SHAPE + 1] = 1.0
        z[0, base + CENTRE, :, 0, 0] = sign * torch.tensor(xs)
    return z


def test_given_frames_take_the_prompts_slot_order_and_keep_their_own_scale():
    from sora_cli.models.mini.frame_latents import slot_swaps

    red, blue = (1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)
    xs = [0.1 * t for t in range(6)]
    expected = _two_objects(4, red, blue, [0.0] * 4)  # the prompt names the red one first
    given = _two_objects(6, red, blue, xs)
    flipped = torch.tensor([False, True, True, False, True, False])  # the encoder's order changes within a clip
    g = given.clone()
    g[:, BACKGROUND:, flipped] = torch.cat([given[:, BACKGROUND + SLOT:], given[:, BACKGROUND:BACKGROUND + SLOT]],
                                            dim=1)[:, :, flipped]
    assert torch.equal(slot_swaps(g, expected)[0], flipped)
    assert not slot_swaps(given, expected).any()

    latents = FrameLatents(FRAME)
    torch.manual_seed(0)
    latents.latent_mean.copy_(torch.randn(SCENE_LAYOUT) * 0.3)  # each slot channel its own scale
    latents.latent_std.copy_(torch.rand(SCENE_LAYOUT) + 0.5)
    window = torch.cat([latents.normalise(g), torch.randn(1, SCENE_LAYOUT, 3, 1, 1)], dim=2)
    strength = torch.tensor([1.0] * 6 + [0.0] * 3)
    called = []

    def prompt_clip() -> torch.Tensor:
        called.append(True)
        return latents.normalise(expected)

    out = latents.order_given(window, strength, prompt_clip)
    assert torch.allclose(latents.denormalise(out[:, :, :6])[:, BACKGROUND:], given[:, BACKGROUND:], atol=1e-5)
    assert torch.equal(out[:, :BACKGROUND], window[:, :BACKGROUND])  # the background is no object's
    assert torch.equal(out[:, :, 6:], window[:, :, 6:])  # new frames are the sampler's
    # nothing given: nothing to order, and the DiT is not asked
    called.clear()
    assert latents.order_given(window, torch.zeros(9), prompt_clip) is window and not called


def test_two_objects_that_look_alike_keep_their_tracks():
    from sora_cli.models.mini.frame_latents import slot_swaps

    red = (1.0, -1.0, -1.0)
    xs = [0.5 - 0.05 * t for t in range(5)]
    given = _two_objects(5, red, red, xs)
    jumped = given.clone()  # the encoder reads them the other way round from frame 3 on
    jumped[:, BACKGROUND:, 3:] = torch.cat([given[:, BACKGROUND + SLOT:], given[:, BACKGROUND:BACKGROUND + SLOT]],
                                            dim=1)[:, :, 3:]
    swaps = slot_swaps(jumped, _two_objects(2, red, red, [0.0, 0.0]))[0]
    assert swaps.tolist() == [False, False, False, True, True]


@pytest.mark.parametrize("backward", [False, True])
def test_given_frames_with_the_latents_they_were_drawn_from_are_placed_as_drawn_not_encoded(tmp_path, monkeypatch,
                                                                                            backward):
    import sora_cli.engine as engine_module

    s = Settings(prompt="a red ball", negative="", seed=3, steps=2, guidance=2.0, shift=3.0, width=64, height=48)
    model = load_model(str(build_tiny(tmp_path / "m", TINY_FRAME)), torch.device("cpu"), torch.float32)
    given = (torch.rand(12, 48, 64, 3) * 255).to(torch.uint8)
    drawn = torch.randn(1, TINY_FRAME.vae.latent_channels, 12, 1, 1)
    placed = []
    original_place = engine_module.place

    def place_spy(conditions, vae, init):
        placed.append([c.latents for c in conditions])
        return original_place(conditions, vae, init)

    monkeypatch.setattr(engine_module, "place", place_spy)
    engine = Engine(model)
    run = (lambda z: engine.chain_backward(s, 8, given, end_latents=z)) if backward else \
        (lambda z: engine.chain(s, 8, start=given, start_latents=z))
    run(drawn)
    (z,) = placed[-1]
    c = z.shape[2]
    assert torch.equal(z, drawn[:, :, :c] if backward else drawn[:, :, -c:])
    run(drawn[:, :, :5])  # latents that are not one a given frame are not trusted: the frames are encoded
    assert placed[-1] == [None]
    run(None)
    assert placed[-1] == [None]


def test_a_storyboard_shot_continues_the_latents_the_shot_before_was_drawn_from(tmp_path, monkeypatch):
    """A storyboard hands each shot the latents the shot before was decoded from, so that an object drawn out of
    view or too small to read back is continued as drawn; frames a model did not draw (a file) are encoded."""
    import sora_cli.engine as engine_module
    from sora_cli.storyboard import Shot, Storyboard, render_storyboard

    spec = replace(TINY_FRAME, trained_for=("generate", "extend", "cut"))  # a cut sees the shot before
    model = load_model(str(build_tiny(tmp_path / "m", spec)), torch.device("cpu"), torch.float32)
    settled, placed = [], []
    original_settle, original_place = model.net.vae.settle, engine_module.place

    def settle_spy(latents, strength, joined):
        settled.append(original_settle(latents, strength, joined))
        return settled[-1]

    def place_spy(conditions, vae, init):
        placed.append([c.latents for c in conditions])
        return original_place(conditions, vae, init)

    model.net.vae.settle = settle_spy
    monkeypatch.setattr(engine_module, "place", place_spy)
    board = Storyboard((Shot("a red ball", 0.5, "cut"), Shot("a close-up of the red ball", 0.5, "cut"),
                        Shot("the red ball moves right", 0.5, "continue")), {})
    base = Job(mode="generate", prompt="a red ball", seed=1, model="", width=64, height=48, fps=24.0, frames=1,
               steps=2)
    shots = list(render_storyboard(board, base, model, Engine(model)))
    assert len(shots) == 3 and len(placed) == len(settled) == 3  # one window a shot
    assert placed[0] == []
    for k in (1, 2):
        (z,) = placed[k]
        c = z.shape[2]
        assert torch.equal(z, model.net.vae.denormalise(settled[k - 1][:, :, -c:]))


def test_close_ups_first_puts_the_object_a_close_up_frames_in_slot_0_and_leaves_other_scenes_alone():
    from sora_cli.research.training.scene_latents import batch_latents, close_up_first
    from sora_cli.research.world.camera import Camera
    from sora_cli.research.world.scene import Scene, Thing

    ball = Thing("red", "circle", "large", "right", None, (0.3, 0.5))
    box = Thing("blue", "square", "small", "down", None, (0.8, 0.2))
    close_on_box = Scene("sand", (ball, box), size_said=(True, False), camera=Camera("still", 1, cut_at=0.5))
    first = close_up_first(close_on_box)
    assert first.things == (box, ball) and first.size_said == (False, True) and first.camera.target == 0
    for other in (Scene("sand", (ball, box), size_said=(True, True)),  # no camera
                  Scene("sand", (ball, box), size_said=(True, True), camera=Camera("still", 1, cut_at=0.5,
                                                                                   cut_to="wide")),
                  Scene("sand", (ball, box), size_said=(True, True), camera=Camera("follow", 1))):
        assert close_up_first(other) is other
    as_said, framed = (batch_latents([close_on_box], [0.0], 144, 80, 24, k)[0, :, :, 0, 0] for k in (False, True))
    centre = [BACKGROUND + SLOT * k + 7 for k in range(2)]
    after = slice(14, 24)  # frames after the cut: the framed object is at the frame's centre
    assert torch.allclose(framed[centre[0]:centre[0] + 2, after], torch.zeros(2, 10), atol=1e-5)
    assert torch.allclose(as_said[centre[1]:centre[1] + 2, after], torch.zeros(2, 10), atol=1e-5)
    assert torch.equal(framed[BACKGROUND:BACKGROUND + SLOT], as_said[BACKGROUND + SLOT:BACKGROUND + 2 * SLOT])
