"""Training checkpoints in safetensors (never pickle): weights, EMA, optimizer moments, state;
and export, which turns a checkpoint's EMA weights into a model folder that `sora` loads."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sora_cli.models.mini.folder import save_model
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.research.world.captions import vocabulary
from sora_cli.specs import ModelSpec


def save(folder: Path, net: nn.Module, ema: nn.Module, optims: dict[str, torch.optim.Optimizer], state: dict,
         extras: dict[str, nn.Module] | None = None) -> None:
    """`extras`: training-only modules by name (the layout head, token masking's flag): kept to resume, never
    exported."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    for name, module in (extras or {}).items():
        tensors |= {f"{name}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    steps = {}
    for name, opt in optims.items():
        for index, (param_id, s) in enumerate(opt.state_dict()["state"].items()):
            for key, value in s.items():
                if key == "step":
                    steps[f"{name}.{param_id}"] = float(value)
                else:
                    tensors[f"opt.{name}.{param_id}.{key}"] = value.detach().cpu().contiguous()
    tmp = folder / "checkpoint.safetensors.part"
    save_file(tensors, str(tmp), metadata={"state": json.dumps(state), "steps": json.dumps(steps)})
    tmp.replace(folder / "checkpoint.safetensors")


def section(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """One module's state out of a checkpoint's tensors: `name` is "net", "ema" or an extra's name."""
    prefix = f"{name}."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load(folder: Path, net: nn.Module, ema: nn.Module, optims: dict[str, torch.optim.Optimizer],
         extras: dict[str, nn.Module] | None = None) -> dict:
    from safetensors import safe_open

    path = folder / "checkpoint.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    net.load_state_dict(section(tensors, "net"), strict=True)
    ema.load_state_dict(section(tensors, "ema"), strict=True)
    for name, module in (extras or {}).items():
        module.load_state_dict(section(tensors, name), strict=True)
    steps = json.loads(meta["steps"])
    for name, opt in optims.items():
        sd = opt.state_dict()
        for key in list(steps):
            prefix, param_id = key.split(".")
            if prefix != name:
                continue
            pid = int(param_id)
            sd["state"][pid] = {"step": torch.tensor(steps[key])}
            for moment in ("exp_avg", "exp_avg_sq"):
                sd["state"][pid][moment] = tensors[f"opt.{name}.{pid}.{moment}"]
        opt.load_state_dict(sd)
    return json.loads(meta["state"])


def export(folder: Path, spec: ModelSpec, target: Path, dtype: torch.dtype = torch.float16) -> None:
    """Write the EMA weights of a checkpoint as a model folder that `sora` loads."""
    net = VideoModel(spec)
    net.load_state_dict(section(load_file(str(folder / "checkpoint.safetensors")), "ema"), strict=True)
    export_net(net, spec, target, dtype)


def export_net(net: VideoModel, spec: ModelSpec, target: Path, dtype: torch.dtype = torch.float16) -> None:
    save_model(net, spec, WordTokenizer(vocabulary()), target, dtype)
