"""Aspect-ratio presets (YAML in presets/) and the size rules every output obeys."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from sora_cli.errors import BadInput

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "16x9"
MIN_SIDE, MAX_SIDE = 64, 2560
MAX_ASPECT = 64 / 27  # "21:9" as sold (2560x1080), landscape or portrait


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    width: int
    height: int
    fps: int
    duration: float


def check_size(width: int, height: int) -> None:
    for side, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise BadInput(f"{side} {value} is outside {MIN_SIDE}..{MAX_SIDE} pixels")
        if value % 2:
            raise BadInput(f"{side} {value} must be even (H.264 yuv420p needs even sizes)")
    if max(width / height, height / width) > MAX_ASPECT + 1e-6:
        raise BadInput(f"{width}x{height} is wider than 21:9 or taller than 9:21")


def load_presets(folder: Path = PRESETS_DIR) -> dict[str, Preset]:
    presets = {}
    names = {f.name for f in fields(Preset)}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(f"{path}: a preset has exactly the keys {sorted(names)}")
        preset = Preset(**data)
        check_size(preset.width, preset.height)
        if preset.name != path.stem:
            raise ValueError(f"{path}: name '{preset.name}' differs from the file name")
        presets[preset.name] = preset
    return presets


def get_preset(name: str) -> Preset:
    presets = load_presets()
    if name not in presets:
        raise BadInput(f"unknown preset '{name}' (known: {', '.join(presets)})")
    return presets[name]


def working_size(width: int, height: int, max_area: int, multiple: int) -> tuple[int, int]:
    """The model's working size for an output: same aspect, at most max_area, whole multiples."""
    aspect = width / height
    h = math.sqrt(max_area / aspect)
    w = h * aspect
    return max(multiple, round(w / multiple) * multiple), max(multiple, round(h / multiple) * multiple)


def model_size(width: int, height: int, max_area: int, multiple: int,
               native: tuple[tuple[int, int], ...] = ()) -> tuple[int, int, bool]:
    """The working size for an output and whether the model was trained at it.

    A native size within 5% of the output's aspect is used as it is (16:9 -> 832x480 for
    Wan: a sliver is cropped); otherwise the largest size of the output's aspect.
    """
    for nw, nh in native:
        if abs(math.log((width / height) / (nw / nh))) < 0.05:
            return nw, nh, True
    w, h = working_size(width, height, max_area, multiple)
    return w, h, not native
