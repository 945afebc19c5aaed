"""Finding a model's folder and loading it with its family's loader.

Lookup order for a model name: $SORA_WEIGHTS_DIR/<name>, the project's weights/<name>,
then the Hugging Face cache (offline; `sora pull` fills it). A folder with a
model_index.json is a Diffusers-format Wan repository; any other is a sora-mini folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from sora_cli.errors import BadInput
from sora_cli.models.interface import LoadedModel
from sora_cli.models.mini.folder import WEIGHTS_FILE, load_mini
from sora_cli.specs import SPECS, ModelSpec

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


def load_model(name: str, device: torch.device, dtype: torch.dtype | None) -> LoadedModel:
    """dtype None: the model's own choice for this device (see runtime.resolve_dtype)."""
    folder = find_model(name)
    from sora_cli.models.wan.loader import is_diffusers_folder, load_wan

    if is_diffusers_folder(folder):
        return load_wan(folder, name, device, dtype)
    return load_mini(folder, name, device, dtype)
