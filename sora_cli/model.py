"""A video model: text encoder, video autoencoder and DiT, built from one spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
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
    tokenizer: WordTokenizer  # or anything with its encode(text, max_tokens) -> Encoded
    net: nn.Module  # .text, .vae and .dit with VideoModel's interfaces
    source: Path
    device: torch.device
    dtype: torch.dtype
    text_device: torch.device | None = None  # where the text encoder runs (offloaded to the CPU, say)

    def unknown_words(self, prompt: str) -> list[str]:
        return self.tokenizer.encode(prompt, self.spec.text.max_tokens).unknown

    def encode_text(self, prompts: list[str]) -> tuple[Tensor, Tensor, list[str]]:
        """-> context (B, L, D), mask (B, L), and the words the model does not know."""
        ids, mask, unknown = batch_ids(self.tokenizer, prompts, self.spec.text.max_tokens)
        text_device = self.text_device or self.device
        ctx = self.net.text(ids.to(text_device), mask.to(text_device)).to(self.device, self.dtype)
        # A text encoder may pad its output (Wan's to 512 positions): the mask follows.
        mask = F.pad(mask, (0, ctx.shape[1] - mask.shape[1]), value=False).to(self.device)
        return ctx, mask, unknown
