"""Finding, verifying and loading model weights. Safetensors only, loaded strictly.

A model directory holds model.safetensors (its spec in the metadata), vocab.json and
SHA256SUMS. Lookup order for a model name: $SORA_WEIGHTS_DIR/<name>, the project's
weights/<name>, then the Hugging Face cache (offline; `sora pull` fills it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sora_cli.errors import BadInput
from sora_cli.model import LoadedModel, VideoModel
from sora_cli.specs import SPECS, ModelSpec, spec_from_json, spec_to_json
from sora_cli.tokenizer import WordTokenizer

WEIGHTS_FILE, VOCAB_FILE, SUMS_FILE = "model.safetensors", "vocab.json", "SHA256SUMS"
PROJECT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


def search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("SORA_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["SORA_WEIGHTS_DIR"]))
    dirs.append(PROJECT_WEIGHTS)
    return dirs


def find_model(name: str) -> Path:
    """A model name or a model directory -> the directory holding its files."""
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        return as_path
    if name not in SPECS:
        if os.sep in name or as_path.suffix:
            raise BadInput(f"model directory not found: {name}")
        raise BadInput(f"unknown model '{name}' (known: {', '.join(sorted(SPECS))})")
    for root in search_dirs():
        if (root / name / WEIGHTS_FILE).is_file():
            return root / name
    spec = SPECS[name]
    if spec.hf_repo:
        cached = _hf_cached(spec)
        if cached is not None:
            return cached
        raise BadInput(f"weights for '{name}' are not downloaded: run `sora pull {name}`")
    raise BadInput(f"weights for '{name}' are missing: expected {PROJECT_WEIGHTS / name / WEIGHTS_FILE}")


def _hf_cached(spec: ModelSpec) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(spec.hf_repo, revision=spec.revision, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != SUMS_FILE)
    lines = [f"{sha256(folder / n)}  {n}\n" for n in names]
    (folder / SUMS_FILE).write_text("".join(lines))


def verify_checksums(folder: Path) -> None:
    sums = folder / SUMS_FILE
    if not sums.is_file():
        raise BadInput(f"{folder}: no {SUMS_FILE}; refusing unverified weights")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        path = folder / name.strip()
        if not path.is_file():
            raise BadInput(f"weights file missing: {path}")
        if sha256(path) != expected:
            raise BadInput(f"weights file is corrupted (sha256 mismatch): {path}")


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


def load_model(name: str, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    folder = find_model(name)
    from sora_cli.wan.loader import is_diffusers_folder, load_wan

    if is_diffusers_folder(folder):
        return load_wan(folder, name, device, dtype)
    verify_checksums(folder)
    spec = read_spec(folder)
    if name in SPECS and SPECS[name] != spec:
        raise BadInput(f"weights in {folder} were made for a different '{name}' spec")
    tokenizer = WordTokenizer.load(folder / VOCAB_FILE)
    if len(tokenizer) > spec.text.vocab_size:
        raise BadInput(f"{folder / VOCAB_FILE} has {len(tokenizer)} words; the model takes {spec.text.vocab_size}")
    with torch.device("meta"):
        net = VideoModel(spec)
    state = {}
    try:
        with safe_open(str(folder / WEIGHTS_FILE), framework="pt", device="cpu") as f:
            for key in f.keys():
                state[key] = f.get_tensor(key)
    except (SafetensorError, OSError) as exc:
        raise BadInput(f"cannot read weights {folder / WEIGHTS_FILE}: {exc}") from None
    result = net.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise BadInput(f"weights in {folder} do not match the spec: missing {result.missing_keys[:3]}, "
                       f"unexpected {result.unexpected_keys[:3]}")
    net = net.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return LoadedModel(spec, tokenizer, net, folder, device, dtype)


def save_model(net: VideoModel, spec: ModelSpec, tokenizer: WordTokenizer, folder: Path,
               dtype: torch.dtype = torch.float32) -> None:
    """Write a model directory that load_model reads back strictly."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"spec": spec_to_json(spec)})
    tokenizer.save(folder / VOCAB_FILE)
    write_checksums(folder)
