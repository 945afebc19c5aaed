"""Presets are data: valid, in range, listed by the CLI."""

import json

import pytest
import yaml

from sora_cli.errors import BadInput
from sora_cli.presets import MAX_SIDE, MIN_SIDE, check_size, load_presets, working_size

REQUIRED = {"16x9": (1920, 1080), "21x9": (2560, 1080), "3x2": (1620, 1080), "4x3": (1440, 1080),
            "1x1": (1080, 1080), "3x4": (1080, 1440), "2x3": (1080, 1620), "9x16": (1080, 1920)}


def test_every_required_aspect_ratio_is_a_preset():
    presets = load_presets()
    for name, size in REQUIRED.items():
        assert (presets[name].width, presets[name].height) == size
        assert presets[name].fps == 24 and presets[name].duration > 0


def test_presets_reject_unknown_keys(tmp_path):
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump({"name": "odd", "description": "", "width": 64,
                                                       "height": 64, "fps": 24, "duration": 1, "hdr": True}))
    with pytest.raises(ValueError, match="exactly the keys"):
        load_presets(tmp_path)


@pytest.mark.parametrize("w,h", [(MIN_SIDE - 2, 100), (MAX_SIDE + 2, 1080), (101, 100), (2560, 100)])
def test_sizes_outside_the_range_are_refused(w, h):
    with pytest.raises(BadInput):
        check_size(w, h)


def test_working_size_keeps_the_aspect_within_the_area_in_whole_multiples():
    for p in load_presets().values():
        w, h = working_size(p.width, p.height, 144 * 80, 16)
        assert w % 16 == 0 and h % 16 == 0 and w * h <= 144 * 80 * 1.2
        assert abs((w / h) / (p.width / p.height) - 1) < 0.2


def test_presets_command_lists_them(cli):
    r = cli("presets", "--json")
    assert r.exit_code == 0
    assert {p["name"] for p in json.loads(r.stdout)} >= set(REQUIRED)
    assert "1920x1080" in cli("presets").stdout


def test_models_command_reports_each_model(cli):
    r = cli("models", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert "sora-mini" in rows and rows["sora-mini"]["status"] in ("ready", "missing")
