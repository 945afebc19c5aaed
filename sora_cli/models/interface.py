"""What the engine needs of a model, and all it sees of one.

Every model family (sora-mini in models/mini, Wan in models/wan) provides a tokenizer and
three networks behind these interfaces; the engine, the sampler and the conditioning code
use nothing else, so a new family is a new folder here, never a branch in the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sora_cli.specs import ModelSpec


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    unknown: list[str]  # words the model has no meaning for (a closed vocabulary's misses)


class Tokenizer(Protocol):
    def encode(self, text: str, max_tokens: int) -> Encoded: ...

    def __len__(self) -> int: ...


class TextEncoder(Protocol):
    def __call__(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, L), mask (B, L) bool -> context (B, L', D); L' >= L if the encoder pads."""


class Latents(Protocol):
    """A video autoencoder as the engine sees it: normalised latents in and out."""

    temporal_factor: int

    def latent_frames(self, frames: int) -> int: ...

    def encode(self, video: Tensor) -> Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, C, t, h, w), unit scale."""

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw latents (B, C, t, h, w) as the DiT sees them in a window that starts with them (what encode gives)."""

    def denormalise(self, latents: Tensor) -> Tensor:
        """normalise's inverse."""

    def decode(self, latents: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """(B, C, t, h, w) -> (B, 3, T, H, W) in [-1, 1]; `size` (H, W) is for latents that do not
        imply it (one vector a frame), and grid latents ignore it."""

    def settle(self, latents: Tensor, strength: Tensor, joined: Tensor) -> Tensor:
        """A sampled window's latents (B, C, t, h, w), made to keep over the window what its latent space says a
        clip keeps, and to continue the given frames it joins; strength (t,) marks the given frames (1), joined (t,)
        those the window continues. Latents that say nothing of the kind return them."""

    def order_given(self, latents: Tensor, given: Tensor, expected: Callable[[], Tensor]) -> Tensor:
        """A window's latents (B, C, t, h, w) before sampling, with the frames it holds from encoded video (given
        (t,) 1: frames given as conditions, or all of a v2v source) in the order of parts the prompt's clip has:
        `expected()` is the DiT's own prediction of that clip from the prompt alone. Latents whose parts have no
        order (a grid) return them and never call it."""


class Velocity(Protocol):
    def __call__(self, x: Tensor, t: Tensor, ctx: Tensor, mask: Tensor) -> Tensor:
        """x (B, C, t, h, w), t (B, t) a time per latent frame (1 = noise), text -> flow velocity noise - x0."""


class Networks(Protocol):
    text: TextEncoder
    vae: Latents
    dit: Velocity


class NormalisedLatents(nn.Module):
    """The Latents interface over any autoencoder: frame counts, and latents scaled by
    per-channel statistics so the DiT sees unit scale. A subclass sets `temporal_factor`,
    registers `latent_mean`/`latent_std` and provides encode_moments and decode_raw."""

    temporal_factor: int

    def latent_frames(self, frames: int) -> int:
        tf = self.temporal_factor
        if frames < 1 or (frames - 1) % tf:
            raise ValueError(f"frame count must be 1 + {tf}k, got {frames}")
        return 1 + (frames - 1) // tf

    def pixel_frames(self, latent_frames: int) -> int:
        return 1 + (latent_frames - 1) * self.temporal_factor

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        return (self.latent_mean.view(1, -1, 1, 1, 1).to(like), self.latent_std.view(1, -1, 1, 1, 1).to(like))

    def encode(self, video: Tensor) -> Tensor:
        """Deterministic, normalised latents for the DiT: (B, z, t, h, w)."""
        return self.normalise(self.encode_moments(video)[0])

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw latents (B, z, t, h, w) at the DiT's unit scale."""
        shift, scale = self._stats(raw)
        return (raw - shift) / scale

    def denormalise(self, latents: Tensor) -> Tensor:
        """The DiT's latents (B, z, t, h, w) back at the autoencoder's raw scale: normalise's inverse."""
        shift, scale = self._stats(latents)
        return latents * scale + shift

    def decode(self, latents: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """Normalised latents -> (B, 3, T, H, W), streamed `chunk` latent frames at a time."""
        return self.decode_raw(self.denormalise(latents), chunk, size)

    def settle(self, latents: Tensor, strength: Tensor, joined: Tensor) -> Tensor:
        return latents

    def order_given(self, latents: Tensor, given: Tensor, expected: Callable[[], Tensor]) -> Tensor:
        return latents


@dataclass
class LoadedModel:
    spec: ModelSpec
    tokenizer: Tokenizer
    net: Networks
    source: Path
    device: torch.device
    dtype: torch.dtype
    text_device: torch.device | None = None  # where the text encoder runs (offloaded to the CPU, say)
    max_tokens: int = 512
    # Run the networks under autocast to this dtype (weights stay float32): bf16 on CPUs with
    # AMX, where a bf16 matmul is several times faster and the sampler's state stays float32.
    autocast: torch.dtype | None = None

    def unknown_words(self, prompt: str) -> list[str]:
        return self.tokenizer.encode(prompt, self.max_tokens).unknown

    def encode_text(self, prompts: list[str]) -> tuple[Tensor, Tensor, list[str]]:
        """-> context (B, L, D), mask (B, L), and the words the model does not know."""
        ids, mask, unknown = batch_ids(self.tokenizer, prompts, self.max_tokens)
        text_device = self.text_device or self.device
        ctx = self.net.text(ids.to(text_device), mask.to(text_device)).to(self.device, self.dtype)
        # A text encoder may pad its output (Wan's to 512 positions): the mask follows.
        mask = F.pad(mask, (0, ctx.shape[1] - mask.shape[1]), value=False).to(self.device)
        return ctx, mask, unknown


def batch_ids(tokenizer: Tokenizer, texts: list[str], max_tokens: int) -> tuple[Tensor, Tensor, list[str]]:
    """-> padded ids (B, L), mask (B, L) and the unknown words of all texts (once each)."""
    encoded = [tokenizer.encode(t, max_tokens) for t in texts]
    length = max(len(e.ids) for e in encoded)
    ids = torch.zeros(len(texts), length, dtype=torch.long)
    mask = torch.zeros(len(texts), length, dtype=torch.bool)
    for row, e in enumerate(encoded):
        ids[row, : len(e.ids)] = torch.tensor(e.ids)
        mask[row, : len(e.ids)] = True
    return ids, mask, list(dict.fromkeys(w for e in encoded for w in e.unknown))
