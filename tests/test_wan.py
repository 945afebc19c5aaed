"""Wan2.1 on our engine: parity with the reference implementations, key for key, and the CLI.

Tiny random configs of diffusers' WanTransformer3DModel and AutoencoderKLWan and of
transformers' UMT5EncoderModel; their state dicts load strictly into ours and the outputs
agree within 1e-4 in fp32. A tiny Diffusers-format folder (save_pretrained) then runs
through the real CLI, as the downloaded repository would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from transformers import UMT5Config as RefUMT5Config
from transformers import UMT5EncoderModel

from sora_cli.models.wan.configs import (
    UMT5Config,
    WanDiTConfig,
    WanVAEConfig,
    read_config,
)
from sora_cli.models.wan.dit import WanTransformer
from sora_cli.models.wan.umt5 import UMT5Encoder
from sora_cli.models.wan.vae import WanVAE

DIT = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
           text_dim=16, freq_dim=32, ffn_dim=40, num_layers=2, cross_attn_norm=True, rope_max_seq_len=64)
VAE = dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 4, 4], num_res_blocks=1, temperal_downsample=[False, True, True],
           latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.5, 0.5, 2.0, 1.0])
T5 = dict(vocab_size=64, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=4, relative_attention_num_buckets=32,
          relative_attention_max_distance=128, feed_forward_proj="gated-gelu")


def _perturb(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    # Reference inits leave some tables at zero or one; noise makes every parameter matter.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return module.eval()


def _ours(cls, cfg_cls, folder: Path, part: str, reference: torch.nn.Module) -> torch.nn.Module:
    reference.save_pretrained(folder / part)
    net = cls(read_config(cfg_cls, folder / part / "config.json", part)).eval()
    net.load_state_dict(reference.state_dict(), strict=True)
    return net


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("wan")
    ref = {"transformer": _perturb(WanTransformer3DModel(**DIT), 1),
           "vae": _perturb(AutoencoderKLWan(**VAE), 2),
           "text_encoder": _perturb(UMT5EncoderModel(RefUMT5Config(**T5)), 3)}
    ours = {"transformer": _ours(WanTransformer, WanDiTConfig, folder, "transformer", ref["transformer"]),
            "vae": _ours(WanVAE, WanVAEConfig, folder, "vae", ref["vae"]),
            "text_encoder": None}
    ref["text_encoder"].save_pretrained(folder / "text_encoder")
    t5 = UMT5Encoder(read_config(UMT5Config, folder / "text_encoder" / "config.json", "text_encoder")).eval()
    state = {k: v for k, v in ref["text_encoder"].state_dict().items() if k != "encoder.embed_tokens.weight"}
    t5.load_state_dict(state, strict=True)
    ours["text_encoder"] = t5
    _write_pipeline_files(folder)
    return folder, ref, ours


def _write_pipeline_files(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["<pad>", "</s>", "<unk>"] + "a red ball moves left right cat dog runs in the park".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    (folder / "tokenizer").mkdir()
    tok.save(str(folder / "tokenizer" / "tokenizer.json"))
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps({"flow_shift": 3.0}))
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    # The engine's settings for a folder: small enough for a 2-core CI.
    (folder / "sora_spec.json").write_text(json.dumps({"max_area": 128 * 64, "native_sizes": [[112, 64], [64, 112]],
                                                       "window_frames": 17, "context_frames": 5}))


def test_transformer_matches_diffusers_key_for_key(reference):
    _, ref, ours = reference
    x, ctx = torch.randn(2, 4, 3, 6, 8), torch.randn(2, 7, 16)
    with torch.no_grad():
        for t in (torch.tensor([500.0, 20.0]), torch.rand(2, 3 * 3 * 4) * 1000):  # per clip, per token
            want = ref["transformer"](x, t, ctx, return_dict=False)[0]
            got = ours["transformer"](x, t, ctx)
            assert want.abs().mean() > 0.1
            assert (got - want).abs().max() < 1e-4


def test_transformer_runs_in_bfloat16_close_to_float32(reference):
    # `--dtype bfloat16` casts the weights: the affine cross-attention norm must not then mix a
    # float32 input with bf16 weights (it raised "mixed dtype" on the CPU).
    import copy

    _, _, ours = reference
    half = copy.deepcopy(ours["transformer"]).to(torch.bfloat16)
    x, ctx, t = torch.randn(1, 4, 3, 6, 8), torch.randn(1, 7, 16), torch.tensor([500.0])
    with torch.no_grad():
        want = ours["transformer"](x, t, ctx)
        got = half(x.bfloat16(), t, ctx.bfloat16())
    assert got.dtype == torch.bfloat16
    assert (got.float() - want).abs().mean() < 0.05 * want.abs().mean()


def test_vae_matches_diffusers_and_streams(reference):
    _, ref, ours = reference
    video = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        want = ref["vae"].encode(video).latent_dist.mean
        got, _ = ours["vae"].encode_moments(video)
        assert (got - want).abs().max() < 1e-4
        decoded = ref["vae"].decode(want).sample
        assert decoded.abs().mean() > 0.05
        for chunk in (1, 2, 3):  # streamed in any chunk size, the same clip
            assert (ours["vae"].decode_raw(want, chunk) - decoded).abs().max() < 1e-4
        # normalised latents round-trip through the config's statistics
        z = ours["vae"].encode(video)
        assert (ours["vae"].decode(z) - decoded).abs().max() < 1e-4


def test_umt5_matches_transformers_with_padding(reference):
    _, ref, ours = reference
    ids = torch.randint(0, 64, (2, 40))
    mask = torch.ones(2, 40, dtype=torch.long)
    mask[1, 25:] = 0
    with torch.no_grad():
        want = ref["text_encoder"](input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours["text_encoder"](ids, mask)
    assert want.abs().mean() > 0.1
    assert (got - want).abs().max() < 1e-4


def frames_of(path: Path):
    from sora_cli.video_io import read_video

    return read_video(path).frames.numpy()


def test_folder_loads_strictly_and_generates_through_the_cli(reference, cli):
    folder = reference[0]
    r = cli("generate", "a red ball moves left", "--model", folder, "--width", "256", "--height", "128",
            "--frames", "9", "--steps", "2", "--seed", "3", "--json", "-o", "w.mp4", model=False)
    assert r.exit_code == 0, r.output
    out = frames_of(cli.cwd / "w.mp4")
    assert out.shape == (9, 128, 256, 3)
    r = cli("extend", "w.mp4", "the ball moves right", "--model", folder, "--frames", "8", "--steps", "2",
            "-o", "e.mp4", model=False)
    assert r.exit_code == 0, r.output
    extended = frames_of(cli.cwd / "e.mp4")
    assert extended.shape[0] == 17
    # the given frames are kept (to within one more H.264 pass over random-weight noise)
    mse = ((extended[:9].astype(float) - out.astype(float)) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 30


def test_missing_or_pickle_weights_are_refused(reference, cli, tmp_path):
    import shutil

    folder = tmp_path / "wan"
    shutil.copytree(reference[0], folder)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").rename(folder / "vae" / "diffusion_pytorch_model.bin")
    r = cli("generate", "a red ball", "--model", folder, "--frames", "5", "-o", "x.mp4", model=False)
    assert r.exit_code == 3
    assert "pickle" in r.output and "Traceback" not in r.output
    assert not (cli.cwd / "x.mp4").exists()


def test_non_native_size_warns_and_native_does_not(reference, cli):
    folder = reference[0]
    common = ("--model", folder, "--frames", "2", "--steps", "1", "--seed", "1")
    r = cli("generate", "a red ball", "--width", "960", "--height", "960", *common, "-o", "sq.mp4", model=False)
    assert r.exit_code == 0, r.output
    assert "trained at 112x64 and 64x112; at 96x96 quality may drop" in r.output
    r = cli("generate", "a red ball", "--preset", "9x16", *common, "-o", "tall.mp4", model=False)
    assert r.exit_code == 0, r.output
    assert "quality may drop" not in r.output


def test_wan_spec_pulls_only_what_the_engine_reads():
    import fnmatch

    from sora_cli.specs import SPECS

    spec = SPECS["wan2.1-t2v-1.3b"]
    assert spec.hf_repo == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" and len(spec.revision) == 40
    wanted = ["model_index.json", "transformer/config.json", "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
              "transformer/diffusion_pytorch_model.safetensors.index.json", "vae/diffusion_pytorch_model.safetensors",
              "text_encoder/model-00001-of-00005.safetensors", "tokenizer/tokenizer.json",
              "scheduler/scheduler_config.json"]
    unwanted = ["transformer/diffusion_pytorch_model.bin", "text_encoder/pytorch_model.bin", "README.md",
                "assets/demo.mp4", "tokenizer/spiece.model"]
    matches = lambda f: any(fnmatch.fnmatch(f, p) for p in spec.files)  # noqa: E731
    assert all(matches(f) for f in wanted)
    assert not any(matches(f) for f in unwanted)


@pytest.mark.parametrize("mode,args,frames", [
    ("animate", ("still.png", "the ball moves left", "--frames", "9", "--width", "112", "--height", "64"), 9),
    ("loop", ("the ball moves left", "--frames", "9", "--width", "112", "--height", "64"), 9),
    ("v2v", ("clip.mp4", "a blue ball", "--strength", "0.5"), 9),
    ("extend", ("clip.mp4", "the ball moves up", "--backward", "--frames", "5"), 14),
])
def test_every_mode_runs_on_the_text_to_video_model(reference, cli, mode, args, frames):
    from conftest import make_video

    rng = np.random.default_rng(0)
    make_video(cli.cwd / "still.png", rng.integers(0, 255, (1, 64, 112, 3), dtype=np.uint8))
    make_video(cli.cwd / "clip.mp4", rng.integers(0, 255, (9, 64, 112, 3), dtype=np.uint8), fps=16)
    r = cli(mode, *args, "--model", reference[0], "--steps", "2", "--seed", "4", "-o", "out.mp4", model=False)
    assert r.exit_code == 0, r.output
    out = frames_of(cli.cwd / "out.mp4")
    assert out.shape[0] == frames and out.shape[1:] == (64, 112, 3)
