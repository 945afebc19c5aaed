"""Encoded DiT batches kept for reuse.

Rendering and encoding a batch costs more than the DiT step on it (on 2 CPU cores, a
144x80 49-frame clip: ~0.3 s to encode, ~0.25 s of DiT forward and backward), so with
`reuse` R the trainer encodes a fresh batch one step in R and otherwise draws an earlier
one from a bounded pool. Each use gets fresh noise, times and captions; the clips,
their conditioning and the autoencoder's latents repeat. The pool holds the batches of
one autoencoder: the trainer never trains the autoencoder after its first DiT step.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from torch import Tensor

from sora_cli.research.world.scene import Scene


@dataclass(frozen=True)
class Encoded:
    z: Tensor  # (B, C, L, h, w) clean latents, end conditions coded on their own as at inference
    strength: Tensor  # (B, L) 1 where a latent frame is a given condition
    objects: Tensor  # (B, 1, L, h, w) 1 on latent cells that hold object pixels
    scenes: list[Scene]  # what was rendered, so every use can caption it afresh
    layout: Tensor | None = None  # (B, N, F) per-token layout targets, when the recipe aligns to them
    preview: bool = False  # at a preview's working size, whose noise is a full render's pooled (noise.draw)


class LatentPool:
    def __init__(self, reuse: int, capacity: int = 64):
        if reuse < 1 or capacity < 1:
            raise ValueError("reuse and capacity must be at least 1")
        self.reuse = reuse
        self.items: deque[Encoded] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self.items)

    def reuse_now(self, rng: random.Random) -> bool:
        """True on about R-1 steps in R (once the pool holds anything): train on an old batch."""
        return bool(self.items) and rng.random() >= 1 / self.reuse

    def add(self, batch: Encoded) -> None:
        self.items.append(batch)

    def draw(self, rng: random.Random) -> Encoded:
        return rng.choice(self.items)
