"""A video model: text encoder, video autoencoder and DiT, built from one spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from sora_cli.dit import DiT
from sora_cli.specs import ModelSpec
from sora_cli.text_encoder import TextEncoder
from sora_cli.tokenizer import WordTokenizer, batch_ids
from sora_cli.vae import VideoAutoencoder


class VideoModel(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.text = TextEncoder(spec.text)
        self.vae = VideoAutoencoder(spec.vae)
        self.dit = DiT(spec.dit, spec.vae.latent_channels, spec.text.dim)


@dataclass
class LoadedModel:
    spec: ModelSpec
    tokenizer: WordTokenizer
    net: VideoModel
    source: Path
    device: torch.device
    dtype: torch.dtype

    def unknown_words(self, prompt: str) -> list[str]:
        return self.tokenizer.encode(prompt, self.spec.text.max_tokens).unknown

    def encode_text(self, prompts: list[str]) -> tuple[Tensor, Tensor, list[str]]:
        """-> context (B, L, D), mask (B, L), and the words the model does not know."""
        ids, mask, unknown = batch_ids(self.tokenizer, prompts, self.spec.text.max_tokens)
        ids, mask = ids.to(self.device), mask.to(self.device)
        return self.net.text(ids, mask), mask, unknown
