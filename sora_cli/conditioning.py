"""Conditioning items: frames given at a latent-frame index with a strength.

Every mode is a list of these. An item's frames (1 + k*tf of them) are encoded on their
own by the causal VAE (unless the engine drew them and gives their latents) and their
latents replace the window's latents from `latent_index` on, held at
t = t_global * (1 - strength) by the sampler.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sora_cli.models.interface import Latents


@dataclass(frozen=True)
class Condition:
    frames: Tensor  # (T, 3, H, W) in [-1, 1] at the working size
    latent_index: int  # where its first latent lands; negative counts from the end
    strength: float = 1.0
    # The window continues these frames (extend, loop, animate): its join is made seamless. A storyboard's cut
    # gives the shot before as context only, and the jump away from it is the point.
    joined: bool = True
    # The frames' raw latents (denormalised), when the engine drew the frames itself (a chain's context): placed
    # instead of encoding the decoded frames again, a round trip that can misread them. Raw, so that they are
    # normalised for this window as encode's are: sora-mini's lattice offset is unwrapped from a window's first
    # frame, and carried as the window before saw it, a long pan's offset would grow past anything trained on.
    latents: Tensor | None = None

    @property
    def continued(self) -> bool:
        """Shown as given (a soft condition is not) and continued by the window (a cut's context is not)."""
        return self.joined and self.strength >= 1.0


def place(conditions: list[Condition], vae: Latents, init: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Write the conditions' latents into init (B, C, T, H, W) -> (init, strength per latent frame, whether each
    latent frame is a given one the window continues)."""
    init = init.clone()
    strength = torch.zeros(init.shape[2], device=init.device)
    joined = torch.zeros(init.shape[2], dtype=torch.bool, device=init.device)
    for cond in conditions:
        frames = cond.frames.to(init)
        latents = vae.encode(frames.permute(1, 0, 2, 3).unsqueeze(0)) if cond.latents is None \
            else vae.normalise(cond.latents.to(init))  # (1, C, t, H, W)
        start = cond.latent_index % init.shape[2]
        stop = start + latents.shape[2]
        if stop > init.shape[2]:
            raise ValueError(f"condition of {latents.shape[2]} latent frames does not fit at index {start}")
        init[:, :, start:stop] = latents
        strength[start:stop] = cond.strength
        joined[start:stop] = cond.continued
    return init, strength, joined
