"""The video autoencoder, the DiT and the weights format."""

import json
import math
import shutil
from dataclasses import replace

import pytest
import torch
from conftest import TINY, build_tiny, run_sora

from sora_cli.errors import BadInput
from sora_cli.models.mini.dit import FRAME_FEATURES, DiT, frame_position_features
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.rope import axis_dims, rope_3d
from sora_cli.models.mini.vae import VideoAutoencoder
from sora_cli.research.training.loop import grow_into, module_names
from sora_cli.specs import SPECS, DiTSpec, VAESpec, spec_from_json, spec_to_json
from sora_cli.video_io import read_video
from sora_cli.weights import PROJECT_WEIGHTS, load_model


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VideoAutoencoder(VAESpec(latent_channels=4, base_channels=8, channel_mults=(1, 2, 2, 2))).eval()


def test_vae_compresses_4x_in_time_8x_in_space(vae):
    z = vae.encode(torch.randn(1, 3, 17, 48, 64))
    assert z.shape == (1, 4, 5, 6, 8)
    assert vae.decode(z).shape == (1, 3, 17, 48, 64)


def test_vae_is_causal_so_an_image_is_a_one_frame_video(vae):
    video = torch.randn(1, 3, 9, 32, 32)
    with torch.no_grad():
        full = vae.encode(video)
        alone = vae.encode(video[:, :, :1])
        changed_future = vae.encode(torch.cat([video[:, :, :5], torch.randn(1, 3, 4, 32, 32)], 2))
    assert torch.allclose(alone, full[:, :, :1], atol=1e-6)
    assert torch.allclose(changed_future[:, :, :2], full[:, :, :2], atol=1e-6)
    assert not torch.allclose(changed_future[:, :, 2], full[:, :, 2])


def test_streamed_decoding_equals_decoding_at_once(vae):
    z = torch.randn(1, 4, 6, 4, 5)
    with torch.no_grad():
        assert torch.allclose(vae.decode(z, chunk=1), vae.decode(z, chunk=100), atol=1e-5)


def test_vae_rejects_frame_counts_it_cannot_encode(vae):
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        vae.encode(torch.randn(1, 3, 8, 16, 16))


def test_dit_takes_any_size_and_length_and_starts_at_zero():
    dit = DiT(DiTSpec(dim=32, depth=2, heads=2), 4, 16)
    ctx, mask = torch.randn(1, 3, 16), torch.ones(1, 3, dtype=torch.bool)
    for shape in ((1, 4, 1, 6, 8), (1, 4, 3, 5, 9), (1, 4, 2, 9, 4)):
        out = dit(torch.randn(shape), torch.rand(1, shape[2]), ctx, mask)
        assert out.shape == shape
        assert torch.count_nonzero(out) == 0  # adaLN-Zero and a zero output layer


def _randomised_dit(spec: DiTSpec, channels: int = 4) -> DiT:
    torch.manual_seed(0)
    dit = DiT(spec, channels, 16)
    for p in dit.parameters():  # past adaLN-Zero's zeros, so every path does something
        torch.nn.init.normal_(p, std=0.2)
    return dit


@pytest.mark.parametrize("frame_positions", [False, True])
def test_only_frame_positions_let_the_dit_place_things_from_a_blank_input(frame_positions):
    # RoPE is relative: on a blank input every token sees the same thing, so without frame
    # positions the output is the same everywhere, and "on the left" cannot be drawn from noise.
    dit = _randomised_dit(DiTSpec(dim=32, depth=2, heads=2, frame_positions=frame_positions))
    ctx, mask = torch.randn(1, 3, 16), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        out = dit(torch.ones(1, 4, 2, 8, 12), torch.ones(1, 2), ctx, mask)
    # How the output changes one patch (2 latent cells) across and one down.
    change = max((out[..., 2:] - out[..., :-2]).abs().max(), (out[..., 2:, :] - out[..., :-2, :]).abs().max())
    if frame_positions:
        assert change > 0.05
    else:
        assert change < 1e-5


def test_frame_positions_are_fractions_of_the_frame_at_every_size():
    # The token under the same fraction of a frame gets the same coordinates at any size.
    small = frame_position_features((5, 9), (2, 2), (10, 18))
    large = frame_position_features((15, 27), (2, 2), (30, 54))  # three times the size
    assert small.shape == (45, FRAME_FEATURES)
    assert torch.allclose(small[0, :2], torch.tensor([-0.8, -8 / 9]), atol=1e-6)  # first token: centre at 1/10, 1/18
    assert torch.allclose(large[1 * 27 + 1], small[0])  # ... as the large grid's second token of its second row
    assert torch.allclose(small[:, 2], torch.full((45,), math.log(18 / 10)))  # the aspect rides along


def _trained_looking_tiny_model() -> VideoModel:
    torch.manual_seed(0)
    model = VideoModel(TINY)
    for p in model.dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model


def _same_dit_output(a: VideoModel, b: VideoModel) -> bool:
    x, t = torch.randn(1, 4, 2, 6, 8), torch.rand(1, 2)
    ctx, mask = torch.randn(1, 3, 32), torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        return torch.equal(a.dit(x, t, ctx, mask), b.dit(x, t, ctx, mask))


def test_a_model_grows_frame_positions_from_weights_made_without_them():
    old = _trained_looking_tiny_model()
    grown = VideoModel(replace(TINY, dit=replace(TINY.dit, frame_positions=True)))
    assert grow_into(grown, old.state_dict()) == ["dit.frame_pos.weight", "dit.frame_pos.bias"]
    assert _same_dit_output(grown, old)  # starts as it was
    with pytest.raises(ValueError, match="no place for: dit.frame_pos"):
        grow_into(old, grown.state_dict())


def test_a_model_grows_deeper_from_weights_of_a_shallower_one():
    old = _trained_looking_tiny_model()
    grown = VideoModel(replace(TINY, dit=replace(TINY.dit, depth=TINY.dit.depth + 2)))
    new = grow_into(grown, old.state_dict())
    assert module_names(new) == [f"dit.blocks.{TINY.dit.depth}", f"dit.blocks.{TINY.dit.depth + 1}"]
    assert _same_dit_output(grown, old)  # the new blocks pass through


def test_a_model_grows_local_mixing_from_weights_made_without_it():
    old = _trained_looking_tiny_model()
    grown = VideoModel(replace(TINY, dit=replace(TINY.dit, local_kernel=(3, 3, 3))))
    new = grow_into(grown, old.state_dict())
    assert new and all(".local." in name for name in new)
    assert _same_dit_output(grown, old)  # a zero convolution adds nothing


PARTS = DiTSpec(dim=32, depth=2, heads=2, patch=(1, 1, 1), part_tokens=((2, 3), (5, 3)))


def _one_cell_inputs() -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    return torch.randn(2, 8, 5, 1, 1), torch.rand(2, 5), torch.randn(2, 3, 16), torch.ones(2, 3, dtype=torch.bool)


def test_a_dit_grows_part_tokens_from_weights_made_without_them_and_starts_as_it_was():
    old = _randomised_dit(replace(PARTS, part_tokens=()), 8)
    grown = DiT(PARTS, 8, 16)
    result = grown.load_state_dict(old.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ["part_embed", "part_in.bias", "part_in.weight", "part_out.bias",
                                           "part_out.weight"] and not result.unexpected_keys
    x, t, ctx, mask = _one_cell_inputs()
    with torch.no_grad():
        before, after = old(x, t, ctx, mask), grown(x, t, ctx, mask)
    assert torch.allclose(before, after, atol=1e-5)


def test_part_tokens_write_only_their_channels_and_read_the_whole_token():
    dit = _randomised_dit(PARTS, 8)
    x, t, ctx, mask = _one_cell_inputs()
    with torch.no_grad():
        out = dit(x, t, ctx, mask)
        torch.nn.init.zeros_(dit.part_out.weight)
        torch.nn.init.zeros_(dit.part_out.bias)
        without = dit(x, t, ctx, mask)
        changed = (out - without).abs().amax(dim=(0, 2, 3, 4))
        assert (changed[[0, 1]] == 0).all() and (changed[2:8] > 1e-3).all()
        # With the whole token's own output off, a part's channels still follow a channel outside every part
        # (channel 0): part tokens attend to the whole tokens.
        torch.nn.init.zeros_(dit.proj_out.weight)
        torch.nn.init.normal_(dit.part_out.weight, std=0.2)
        moved = x.clone()
        moved[:, 0] += 2.0
        assert (dit(moved, t, ctx, mask) - dit(x, t, ctx, mask))[:, 2:8].abs().max() > 1e-3


@pytest.mark.parametrize("parts, why", [(((2, 3), (4, 3)), "separate"), (((2, 3), (6, 2)), "one count"),
                                        (((0, 3),), "one-cell")])
def test_part_tokens_must_be_separate_ranges_of_one_count_on_one_cell_tokens(parts, why):
    patch = (1, 2, 2) if why == "one-cell" else (1, 1, 1)
    with pytest.raises(ValueError, match=why):
        DiTSpec(patch=patch, part_tokens=parts)


def test_local_mixing_lets_a_token_move_its_neighbours_and_no_further():
    # With attention's output zeroed, a token's input reaches only the tokens within the kernels'
    # reach: one token per block and axis, so two blocks of 3x3x3 reach two tokens away.
    for kernel, reaches in (((3, 3, 3), True), (None, False)):
        dit = _randomised_dit(DiTSpec(dim=32, depth=2, heads=2, local_kernel=kernel))
        for block in dit.blocks:
            torch.nn.init.zeros_(block.attn.o.weight)
            torch.nn.init.zeros_(block.attn.o.bias)
        ctx, mask = torch.randn(1, 3, 16), torch.ones(1, 3, dtype=torch.bool)
        x = torch.randn(1, 4, 3, 8, 16)  # a grid of 3 x 4 x 8 tokens of 2x2 cells
        moved = x.clone()
        moved[:, :, 1, 0:2, 0:2] += 3.0  # token (1, 0, 0)
        with torch.no_grad():
            change = (dit(moved, torch.full((1, 3), 0.5), ctx, mask) - dit(x, torch.full((1, 3), 0.5), ctx, mask)).abs()
        token = lambda t, y, x: change[:, :, t, 2 * y:2 * y + 2, 2 * x:2 * x + 2].max().item()  # noqa: E731
        assert token(1, 0, 0) > 1e-3
        assert (token(2, 1, 2) > 1e-4) == reaches  # two tokens away on one axis, one on the others
        assert token(1, 0, 3) < 1e-6 and token(1, 3, 0) < 1e-6  # three tokens away: out of reach


def test_rope_splits_head_channels_and_encodes_each_axis():
    assert sum(axis_dims(64)) == 64 and all(d % 2 == 0 for d in axis_dims(48))
    cos, sin = rope_3d((2, 3, 4), 24, 10000.0)
    assert cos.shape == (24, 12)
    grid = cos.view(2, 3, 4, 12)
    assert not torch.allclose(grid[0, 0, 0], grid[1, 0, 0]) and not torch.allclose(grid[0, 0, 0], grid[0, 1, 0])
    assert torch.allclose(cos**2 + sin**2, torch.ones_like(cos))


def test_spec_round_trips_through_json_and_rejects_unknown_keys():
    assert spec_from_json(spec_to_json(TINY)) == TINY
    assert spec_from_json(spec_to_json(SPECS["sora-mini"])) == SPECS["sora-mini"]
    wan = SPECS["wan2.1-t2v-1.3b"]  # nested tuples (native sizes) come back as tuples, not lists
    assert spec_from_json(spec_to_json(wan)) == wan and hash(spec_from_json(spec_to_json(wan))) == hash(wan)
    with pytest.raises(ValueError, match="unknown"):
        spec_from_json(spec_to_json(TINY).replace('"fps"', '"fpz"'))


def test_weights_whose_spec_turns_guidance_off_are_refused(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    from sora_cli.checksums import write_checksums

    folder = tmp_path / "empty-interval"
    shutil.copytree(tiny, folder)
    meta = {"spec": spec_to_json(TINY).replace('"guidance_interval": [0.0, 1.0]', '"guidance_interval": [0.8, 0.2]')}
    assert meta["spec"] != spec_to_json(TINY)
    save_file(load_file(folder / "model.safetensors"), str(folder / "model.safetensors"), metadata=meta)
    write_checksums(folder)
    with pytest.raises(BadInput, match="guidance_interval"):
        load_model(str(folder), torch.device("cpu"), torch.float32)


def test_weights_load_strictly_and_match_what_was_saved(tiny):
    m = load_model(str(tiny), torch.device("cpu"), torch.float32)
    assert m.spec == TINY and m.net.dit.blocks[0].ada.weight.abs().sum() > 0


def test_missing_or_unexpected_keys_are_refused(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    from sora_cli.checksums import write_checksums

    folder = tmp_path / "broken"
    shutil.copytree(tiny, folder)
    state = load_file(folder / "model.safetensors")
    state.pop("dit.proj_out.bias")
    save_file(state, str(folder / "model.safetensors"), metadata={"spec": spec_to_json(TINY)})
    write_checksums(folder)
    with pytest.raises(BadInput, match="do not match"):
        load_model(str(folder), torch.device("cpu"), torch.float32)


def test_shipped_sora_mini_verifies_loads_and_makes_a_preview(tmp_path):
    """The embedded model: its sha256 sums, its spec (the code's), a real clip from it."""
    loaded = load_model("sora-mini", torch.device("cpu"), torch.float32)
    assert loaded.source == PROJECT_WEIGHTS / "sora-mini" and loaded.spec == SPECS["sora-mini"]
    r = run_sora("generate", "a red ball moves right on a sky background", "--preview", "--duration", "1",
                 "--seed", "1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    clip = read_video(tmp_path / json.loads(r.stdout)["output"]).frames.numpy()
    assert clip.shape[0] == 24 and clip.std() > 1.0  # frames with content, not a constant


@pytest.mark.parametrize("native, evaluated, expected", [(True, True, torch.bfloat16), (False, True, None),
                                                         (True, False, None)])
def test_auto_dtype_autocasts_bf16_only_on_native_bf16_for_models_evaluated_in_it(tmp_path, monkeypatch, native,
                                                                                 evaluated, expected):
    from sora_cli.models.mini import folder as mini_folder

    model = build_tiny(tmp_path / "m", replace(TINY, cpu_bf16=evaluated))
    monkeypatch.setattr(mini_folder, "has_native_bf16", lambda: native)
    loaded = mini_folder.load_mini(model, "m", torch.device("cpu"), None)
    assert loaded.autocast == expected
    assert next(loaded.net.parameters()).dtype == torch.float32  # autocast keeps float32 weights
