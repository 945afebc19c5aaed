"""sora-mini's networks: text encoder, video autoencoder and DiT, built from one spec."""

from __future__ import annotations

from torch import nn

from sora_cli.models.mini.dit import DiT
from sora_cli.models.mini.frame_latents import FrameLatents
from sora_cli.models.mini.linear_latents import LinearLatents
from sora_cli.models.mini.pixels import PixelLatents
from sora_cli.models.mini.text_encoder import TextEncoder
from sora_cli.models.mini.vae import VideoAutoencoder
from sora_cli.specs import ModelSpec

# VAESpec.kind -> the autoencoder that implements it.
AUTOENCODERS = {"conv": VideoAutoencoder, "pixels": PixelLatents, "linear": LinearLatents, "frame": FrameLatents}


class VideoModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.text = TextEncoder(spec.text)
        self.vae = AUTOENCODERS[spec.vae.kind](spec.vae)
        self.dit = DiT(spec.dit, spec.vae.latent_channels, spec.text.dim)
