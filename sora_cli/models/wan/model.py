"""Wan's three networks behind the engine's interfaces (net.text, net.vae, net.dit)."""

from __future__ import annotations

import torch.nn.functional as F
from einops import repeat
from torch import Tensor, nn

from sora_cli.models.wan.configs import UMT5Config, WanDiTConfig, WanVAEConfig
from sora_cli.models.wan.dit import WanTransformer
from sora_cli.models.wan.text import WanTextEncoder
from sora_cli.models.wan.vae import WanVAE


class WanVelocity(nn.Module):
    """The engine's DiT call: (x, t per latent frame in [0, 1], text, mask) -> flow velocity.

    Wan predicts noise - data, the engine's convention; its timesteps are 1000 t. One
    timestep for the whole clip takes the reference's own path; per-frame timesteps
    (given frames held clean) become one per token. The text mask is not used: Wan
    attends to all 512 positions, zeros past the prompt, as it was trained to.
    """

    def __init__(self, cfg: WanDiTConfig):
        super().__init__()
        self.transformer = WanTransformer(cfg)

    def forward(self, x: Tensor, t: Tensor, ctx: Tensor, mask: Tensor | None = None) -> Tensor:
        _, _, f, h, w = x.shape
        pt, ph, pw = self.transformer.cfg.patch_size
        pad_h, pad_w = (-h) % ph, (-w) % pw
        if pad_h or pad_w:  # whole patches for any latent size; cropped off below
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        if bool((t == t[:, :1]).all()):
            steps = t[:, 0] * 1000
        else:
            steps = repeat(t * 1000, "b f -> b (f hw)", hw=((h + pad_h) // ph) * ((w + pad_w) // pw))
        out = self.transformer(x.to(self.transformer.patch_embedding.weight.dtype), steps, ctx)
        return out[:, :, :, :h, :w].to(x.dtype)


class WanNetworks(nn.Module):
    def __init__(self, dit: WanDiTConfig, vae: WanVAEConfig, text: UMT5Config):
        super().__init__()
        self.text = WanTextEncoder(text)
        self.vae = WanVAE(vae)
        self.dit = WanVelocity(dit)
