"""Every training recipe is a spec and settings that `sora train` can run: checked without training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sora_cli.research.training.loop import TrainConfig
from sora_cli.research.training.recipes import RECIPES, recipe


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_recipe_builds_its_model_and_runs_its_dit_at_preview_size(name):
    from sora_cli.models.mini.network import VideoModel

    spec, settings = recipe(name)
    TrainConfig(spec=spec, out=Path("unused"), minutes=1.0, **({"vae_minutes": 15.0} | settings))
    net = VideoModel(spec).eval()
    f = spec.vae.spatial_factor
    z = torch.randn(1, spec.vae.latent_channels, 2, 40 // f, 72 // f)
    ctx = torch.randn(1, 3, spec.text.dim)
    with torch.no_grad():
        v = net.dit(z, torch.full((1, 2), 0.5), ctx, torch.ones(1, 3, dtype=torch.bool))
    assert v.shape == z.shape and torch.isfinite(v).all()


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(KeyError, match="linear-dit-velocity"):
        recipe("nope")
