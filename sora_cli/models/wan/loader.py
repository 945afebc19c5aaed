"""Loading a Diffusers-format Wan repository (a Hugging Face snapshot or any folder like it).

Each network is built on the meta device from its config.json and filled strictly from
its safetensors (single file or shards with an index); pickle files are never read.
Integrity of downloaded files is huggingface_hub's (it checks each file's sha256 as it
downloads); a folder missing a file says which, and how to get it.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import torch

from sora_cli.errors import BadInput
from sora_cli.models.interface import LoadedModel
from sora_cli.models.loading import load_strict, read_state
from sora_cli.models.wan.configs import (
    UMT5Config,
    WanDiTConfig,
    WanVAEConfig,
    read_config,
)
from sora_cli.models.wan.model import WanNetworks
from sora_cli.models.wan.text import MAX_TOKENS, SentencePieceTokenizer
from sora_cli.specs import SPECS, WAN_T2V_1_3B, WAN_TI2V_5B, ModelSpec, spec_from_json, spec_to_json

INDEX = "model_index.json"
# Optional, ours: engine settings (max_area, native_sizes, window_frames, ...) for a folder
# that is not the pinned repository, such as a fine-tune or a test model.
SPEC_OVERRIDES = "sora_spec.json"
# (component folder, weights file stem); a stem may be sharded as <stem>.safetensors.index.json.
COMPONENTS = {"transformer": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"}
# One tensor, two names: umT5's token embedding is tied to the encoder's input embedding.
ALIASES = {"text_encoder": {"encoder.embed_tokens.weight": "shared.weight"}}


def is_diffusers_folder(folder: Path) -> bool:
    return (folder / INDEX).is_file()


def weight_files(folder: Path, stem: str) -> list[Path]:
    single = folder / f"{stem}.safetensors"
    if single.is_file():
        return [single]
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    if any(folder.glob("*.bin")) or any(folder.glob("*.pt*")):
        raise BadInput(f"{folder} holds only pickle weights; sora reads safetensors only")
    raise BadInput(f"no {stem}.safetensors in {folder}")


def folder_spec(folder: Path, name: str, vae: WanVAEConfig) -> ModelSpec:
    """The pinned spec for a known name, else the settings of the Wan release whose VAE the
    folder has (Wan2.2's residual one or Wan2.1's) around that VAE's own geometry, with the
    folder's sora_spec.json on top; the flow shift from the scheduler's config."""
    family = WAN_TI2V_5B if vae.is_residual else WAN_T2V_1_3B
    geometry = replace(family.vae, latent_channels=vae.z_dim, base_channels=vae.base_dim,
                       channel_mults=tuple(vae.dim_mult), temporal_down=tuple(vae.temperal_downsample),
                       patch=vae.patch_size or 1)
    base = SPECS.get(name) or replace(family, name=folder.name, hf_repo=None, revision=None, files=(), vae=geometry)
    overrides = folder / SPEC_OVERRIDES
    if overrides.is_file():
        try:
            data = json.loads(spec_to_json(base)) | json.loads(overrides.read_text())
            base = spec_from_json(json.dumps(data))
        except (ValueError, TypeError) as exc:
            raise BadInput(f"{overrides}: {exc}") from None
    scheduler = folder / "scheduler" / "scheduler_config.json"
    if scheduler.is_file():
        shift = json.loads(scheduler.read_text()).get("flow_shift")
        if shift:
            base = replace(base, shift=float(shift))
    return base


def load_wan(folder: Path, name: str, device: torch.device, dtype: torch.dtype | None) -> LoadedModel:
    dtype = dtype or torch.float32  # auto on a CPU
    configs = {}
    for part, cls in (("transformer", WanDiTConfig), ("vae", WanVAEConfig), ("text_encoder", UMT5Config)):
        path = folder / part / "config.json"
        if not path.is_file():
            raise BadInput(f"{path} is missing")
        try:
            configs[part] = read_config(cls, path, part)
        except (ValueError, TypeError) as exc:
            raise BadInput(str(exc)) from None
    tokenizer_file = folder / "tokenizer" / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise BadInput(f"{tokenizer_file} is missing")
    spec = folder_spec(folder, name, configs["vae"])
    vae_cfg = configs["vae"]
    vae_factor = 2 ** (len(vae_cfg.dim_mult) - 1) * (vae_cfg.patch_size or 1)
    if (vae_cfg.z_dim, vae_factor) != (spec.vae.latent_channels, spec.vae.spatial_factor):
        raise BadInput(f"{folder}: the VAE has {vae_cfg.z_dim} latent channels and {vae_factor}x spatial compression, "
                       f"the spec {spec.vae.latent_channels} and {spec.vae.spatial_factor}x")
    if configs["transformer"].in_channels != vae_cfg.z_dim:
        raise BadInput(f"{folder}: the transformer takes {configs['transformer'].in_channels} channels, "
                       f"the VAE makes {vae_cfg.z_dim}")
    with torch.device("meta"):
        net = WanNetworks(configs["transformer"], configs["vae"], configs["text_encoder"])
    load_strict(net.dit.transformer, read_state(weight_files(folder / "transformer", COMPONENTS["transformer"])),
                folder / "transformer")
    load_strict(net.vae, read_state(weight_files(folder / "vae", COMPONENTS["vae"])), folder / "vae")
    load_strict(net.text.umt5, read_state(weight_files(folder / "text_encoder", COMPONENTS["text_encoder"]),
                                          ALIASES["text_encoder"]), folder / "text_encoder")
    # Buffers that are not in the files (latent statistics) were made on meta: make them real.
    net.vae.latent_mean = torch.tensor(configs["vae"].latents_mean)
    net.vae.latent_std = torch.tensor(configs["vae"].latents_std)
    text_device = torch.device(os.environ.get("SORA_TEXT_DEVICE", str(device)))
    net.dit.to(device=device, dtype=dtype)
    net.vae.to(device=device, dtype=dtype)
    net.text.to(device=text_device, dtype=torch.float32 if text_device.type == "cpu" else dtype)
    net.eval().requires_grad_(False)
    return LoadedModel(spec, SentencePieceTokenizer(tokenizer_file), net, folder, device, dtype, text_device, MAX_TOKENS)
