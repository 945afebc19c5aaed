"""sora-mini's model folder: model.safetensors (its spec in the metadata), vocab.json, SHA256SUMS."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sora_cli.checksums import verify_checksums, write_checksums
from sora_cli.errors import BadInput
from sora_cli.models.interface import LoadedModel
from sora_cli.models.loading import load_strict, read_state
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.runtime import has_native_bf16
from sora_cli.specs import SPECS, ModelSpec, spec_from_json, spec_to_json

WEIGHTS_FILE, VOCAB_FILE = "model.safetensors", "vocab.json"


def is_mini_folder(folder: Path) -> bool:
    return (folder / WEIGHTS_FILE).is_file()


def read_spec(folder: Path) -> ModelSpec:
    try:
        with safe_open(str(folder / WEIGHTS_FILE), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise BadInput(f"cannot read weights {folder / WEIGHTS_FILE}: {exc}") from None
    if "spec" not in meta:
        raise BadInput(f"{folder / WEIGHTS_FILE} carries no model spec in its metadata")
    try:
        return spec_from_json(meta["spec"])
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{folder / WEIGHTS_FILE}: bad model spec: {exc}") from None


def load_mini(folder: Path, name: str, device: torch.device, dtype: torch.dtype | None) -> LoadedModel:
    """dtype None (auto on a CPU): bf16 autocast when the CPU has native bf16 (AMX, AVX512-BF16) and the spec says its
    evaluation showed no loss under it (ModelSpec.cpu_bf16), else float32."""
    verify_checksums(folder)
    spec = read_spec(folder)
    if name in SPECS and SPECS[name] != spec:
        raise BadInput(f"weights in {folder} were made for a different '{name}' spec")
    tokenizer = WordTokenizer.load(folder / VOCAB_FILE)
    if len(tokenizer) > spec.text.vocab_size:
        raise BadInput(f"{folder / VOCAB_FILE} has {len(tokenizer)} words; the model takes {spec.text.vocab_size}")
    # Built on the CPU, not the meta device: a few million parameters initialise in a blink,
    # while initialisers under torch.device("meta") went through torch's Python references
    # and their imports, 2-3 s of every start-up.
    net = VideoModel(spec)
    load_strict(net, read_state([folder / WEIGHTS_FILE]), folder)
    if dtype is None:
        dtype = torch.bfloat16 if spec.cpu_bf16 and device.type == "cpu" and has_native_bf16() else torch.float32
    # bf16 on a CPU is autocast over float32 weights: the matmuls run in bf16 (AMX), while norms,
    # the sampler's state and its Euler sums keep float32's precision.
    autocast = torch.bfloat16 if device.type == "cpu" and dtype == torch.bfloat16 else None
    weights_dtype = torch.float32 if autocast else dtype
    net = net.to(device=device, dtype=weights_dtype).eval().requires_grad_(False)
    return LoadedModel(spec, tokenizer, net, folder, device, weights_dtype, max_tokens=spec.text.max_tokens,
                       autocast=autocast)


def save_model(net: VideoModel, spec: ModelSpec, tokenizer: WordTokenizer, folder: Path,
               dtype: torch.dtype = torch.float32) -> None:
    """Write a model folder that load_mini reads back strictly."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"spec": spec_to_json(spec)})
    tokenizer.save(folder / VOCAB_FILE)
    write_checksums(folder)
