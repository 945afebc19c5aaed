"""The one strict loader: safetensors files into a network built on the meta device.

Pickle is never read. A key the network lacks, or a network key the files lack, is an
error that names both, so a wrong or truncated download cannot load half a model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from sora_cli.errors import BadInput


def read_state(paths: list[Path], aliases: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    """Every tensor of the files (shards of one network), renamed by `aliases`."""
    aliases = aliases or {}
    state = {}
    for path in paths:
        if not path.is_file():
            raise BadInput(f"weights file missing: {path}")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    state[aliases.get(key, key)] = f.get_tensor(key)
        except (SafetensorError, OSError) as exc:
            raise BadInput(f"cannot read weights {path}: {exc}") from None
    return state


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    result = module.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise BadInput(f"weights in {where} do not match the network: missing {result.missing_keys[:3]}, "
                       f"unexpected {result.unexpected_keys[:3]}")
