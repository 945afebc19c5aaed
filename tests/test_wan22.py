"""Wan2.2-TI2V-5B on our engine: its residual 4x16x16 VAE against diffusers', and its trained
image-to-video conditioning against diffusers' own pipeline, step by step.

Tiny random configs in the 2.2 layout (is_residual, patch_size 2, 48 -> 6 latent channels);
their state dicts load strictly into ours. A tiny save_pretrained folder then animates an
image through the real CLI, and the transformer's inputs at every step (latents and
per-token timesteps) are compared with what WanImageToVideoPipeline (expand_timesteps=True,
as the 5B repository configures it) feeds its transformer for the same image, noise,
prompt embedding and Euler times.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    WanImageToVideoPipeline,
    WanTransformer3DModel,
)
from test_wan import T5, _perturb, _write_pipeline_files
from transformers import UMT5Config as RefUMT5Config
from transformers import UMT5EncoderModel

from sora_cli.models.wan.configs import WanVAEConfig, read_config
from sora_cli.models.wan.dit import WanTransformer
from sora_cli.models.wan.vae import WanVAE

DIT = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=6, out_channels=6,
           text_dim=16, freq_dim=32, ffn_dim=40, num_layers=2, cross_attn_norm=True, rope_max_seq_len=64)
VAE = dict(base_dim=8, decoder_base_dim=12, z_dim=6, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
           temperal_downsample=[False, True, True], is_residual=True, patch_size=2, in_channels=12, out_channels=12,
           scale_factor_spatial=16, latents_mean=[0.1, -0.2, 0.3, 0.0, 0.05, -0.1],
           latents_std=[1.5, 0.5, 2.0, 1.0, 0.8, 1.2])
SHIFT = 5.0


@pytest.fixture(scope="module")
def wan22(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("wan22")
    ref = {"transformer": _perturb(WanTransformer3DModel(**DIT), 11), "vae": _perturb(AutoencoderKLWan(**VAE), 12)}
    for part, net in ref.items():
        net.save_pretrained(folder / part)
    _perturb(UMT5EncoderModel(RefUMT5Config(**T5)), 13).save_pretrained(folder / "text_encoder")
    _write_pipeline_files(folder)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"flow_shift": SHIFT}))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", "expand_timesteps": True}))
    (folder / "sora_spec.json").write_text(json.dumps({"max_area": 128 * 64, "native_sizes": [[128, 64], [64, 128]],
                                                       "window_frames": 17, "context_frames": 5}))
    return folder, ref


def test_residual_vae_matches_diffusers_and_streams(wan22):
    folder, ref = wan22
    ours = WanVAE(read_config(WanVAEConfig, folder / "vae" / "config.json", "vae")).eval()
    ours.load_state_dict(ref["vae"].state_dict(), strict=True)
    assert ours.spatial_factor == 16 and ours.temporal_factor == 4
    video = torch.rand(1, 3, 9, 32, 64) * 2 - 1
    with torch.no_grad():
        want = ref["vae"].encode(video).latent_dist.mean
        got, _ = ours.encode_moments(video)
        assert got.shape == (1, 6, 3, 2, 4)
        assert (got - want).abs().max() < 1e-4
        decoded = ref["vae"].decode(want).sample
        assert decoded.abs().mean() > 0.05
        for chunk in (1, 2, 3):  # streamed in any chunk size, the same clip
            assert (ours.decode_raw(want, chunk) - decoded).abs().max() < 1e-4


def test_transformer_of_the_2_2_layout_matches_with_per_token_timesteps(wan22):
    folder, ref = wan22
    from sora_cli.models.wan.configs import WanDiTConfig

    ours = WanTransformer(read_config(WanDiTConfig, folder / "transformer" / "config.json", "transformer")).eval()
    ours.load_state_dict(ref["transformer"].state_dict(), strict=True)
    x, ctx = torch.randn(1, 6, 3, 4, 6), torch.randn(1, 7, 16)
    t = torch.full((1, 3 * 2 * 3), 700.0)
    t[:, :6] = 0.0  # the given first latent frame, as TI2V holds it
    with torch.no_grad():
        want = ref["transformer"](x, t, ctx, return_dict=False)[0]
        assert (ours(x, t, ctx) - want).abs().max() < 1e-4


def test_config_keys_we_do_not_implement_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(VAE | {"in_channels": 3}))
    with pytest.raises(ValueError, match="in_channels"):
        read_config(WanVAEConfig, tmp_path / "config.json", "vae")


def test_animate_feeds_the_transformer_what_the_reference_pipeline_does(wan22, cli, monkeypatch):
    from conftest import make_video
    from PIL import Image

    folder, ref = wan22
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    make_video(cli.cwd / "still.png", image[None])
    calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    forward = WanTransformer.forward

    def recording(self, x, t, text):
        calls.append((x.clone(), t.clone(), text.clone()))
        return forward(self, x, t, text)

    monkeypatch.setattr(WanTransformer, "forward", recording)
    r = cli("animate", "still.png", "a red ball moves left", "--model", folder, "--frames", "9", "--width", "128",
            "--height", "64", "--steps", "3", "--guidance", "1", "--seed", "5", "-o", "a.mp4", model=False)
    assert r.exit_code == 0, r.output
    assert len(calls) == 3
    x0, t0, text = calls[0]
    assert x0.shape == (1, 6, 3, 4, 8) and t0.shape == (1, 3 * 2 * 4)

    scheduler = FlowMatchEulerDiscreteScheduler(shift=SHIFT)
    set_timesteps = scheduler.set_timesteps
    # Our Euler times: 1, 2/3, 1/3 before the shift (the scheduler applies the same shift).
    scheduler.set_timesteps = lambda n, device=None: set_timesteps(sigmas=np.linspace(1, 0, n + 1)[:-1], device=device)
    pipe = WanImageToVideoPipeline(tokenizer=None, text_encoder=None, vae=ref["vae"], scheduler=scheduler,
                                   transformer=ref["transformer"], expand_timesteps=True)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hook = ref["transformer"].register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((kwargs["hidden_states"].clone(), kwargs["timestep"].clone())),
        with_kwargs=True)
    try:
        with torch.no_grad():
            pipe(image=Image.fromarray(image), prompt_embeds=text, height=64, width=128, num_frames=9,
                 num_inference_steps=3, guidance_scale=1.0, latents=x0.clone(), output_type="latent")
    finally:
        hook.remove()
    assert len(seen) == 3
    for (x, t, _), (want_x, want_t) in zip(calls, seen):
        assert torch.equal(t == 0, want_t == 0)  # the first latent frame's tokens, and only they, are clean
        assert (t - want_t).abs().max() < 1e-2
        assert (x - want_x).abs().max() < 1e-3
    assert (t0[0, :8] == 0).all() and (t0[0, 8:] == 1000).all()


@pytest.mark.parametrize("mode,args,frames", [
    ("generate", ("a red ball moves left", "--frames", "9", "--width", "128", "--height", "64"), 9),
    ("loop", ("the ball moves left", "--frames", "9", "--width", "128", "--height", "64"), 9),
    ("v2v", ("clip.mp4", "a blue ball", "--strength", "0.5"), 9),
    ("extend", ("clip.mp4", "the ball moves up", "--frames", "8"), 17),
])
def test_every_mode_runs_on_the_2_2_layout(wan22, cli, mode, args, frames):
    from conftest import make_video
    from test_wan import frames_of

    make_video(cli.cwd / "clip.mp4", np.random.default_rng(0).integers(0, 255, (9, 64, 128, 3), dtype=np.uint8),
               fps=24)
    r = cli(mode, *args, "--model", wan22[0], "--steps", "2", "--seed", "4", "-o", "out.mp4", model=False)
    assert r.exit_code == 0, r.output
    out = frames_of(cli.cwd / "out.mp4")
    assert out.shape == (frames, 64, 128, 3)


def test_wan22_spec_is_pinned_and_pulls_only_what_the_engine_reads():
    import fnmatch

    from sora_cli.specs import SPECS

    spec = SPECS["wan2.2-ti2v-5b"]
    assert spec.hf_repo == "Wan-AI/Wan2.2-TI2V-5B-Diffusers" and len(spec.revision) == 40
    assert (spec.vae.latent_channels, spec.vae.spatial_factor, spec.vae.temporal_factor) == (48, 16, 4)
    assert spec.fps == 24 and (1280, 704) in spec.native_sizes and "animate" in spec.trained_for
    wanted = ["transformer/diffusion_pytorch_model-00001-of-00003.safetensors",
              "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors.index.json",
              "tokenizer/tokenizer.json", "scheduler/scheduler_config.json"]
    matches = lambda f: any(fnmatch.fnmatch(f, p) for p in spec.files)  # noqa: E731
    assert all(matches(f) for f in wanted)
    assert not any(matches(f) for f in ["transformer/diffusion_pytorch_model.bin", "examples/i2v_input.JPG"])
