"""Linear latents: each pixel cell projected on the world's principal components.

The world is flat colours and simple shapes, so an sf x sf x tf cell of its clips lies
close to a low-dimensional subspace: 32 components of a cell's 768 values keep 99.7% of the
variance, and the checker scores a round trip through them at 0.93 of what it scores the
clips themselves (0.871 against 0.939 on 40 held-out prompts at full size,
docs/sora-mini-bakeoff.md), where sora-mini v8's learned autoencoder reached 0.79. The
basis is fitted once, before training, from rendered clips (an SVD), and travels in the
weights as buffers: encoding and decoding are one matrix product each, with no autoencoder
to train and none to run at half the cost of a training step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sora_cli.models.mini.pixels import PixelLatents
from sora_cli.specs import VAESpec


class LinearLatents(PixelLatents):
    """PixelLatents' cells, projected on `latent_channels` components (its latent_mean and
    latent_std then hold the components' statistics)."""

    def __init__(self, spec: VAESpec):
        super().__init__(spec)
        cells = spec.cell_values
        self.register_buffer("centre", torch.zeros(cells))
        # Orthonormal rows; the identity's first k rows until fitted, so a fresh model still round-trips something.
        self.register_buffer("basis", torch.eye(spec.latent_channels, cells))

    @torch.no_grad()
    def fit(self, cells: Tensor) -> float:
        """Fit the basis to (N, cell_values) pixel cells; -> the share of their variance it keeps.

        Component k is scaled by std_k ** spec.whiten, normalised so the latents' variance averages
        1 over components: whitened (unit variance each) at 1, the pixels' own proportions at 0.
        """
        x = cells.double()
        centre = x.mean(0)
        _, s, vh = torch.linalg.svd(x - centre, full_matrices=False)
        k = self.spec.latent_channels
        self.centre.copy_(centre)
        self.basis.copy_(vh[:k])
        self.latent_mean.zero_()
        std = (s[:k] / (x.shape[0] - 1) ** 0.5).clamp_min(1e-4)
        scale = std**self.spec.whiten
        self.latent_std.copy_(scale * ((std / scale) ** 2).mean().sqrt())
        return float((s[:k] ** 2).sum() / (s**2).sum())

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        cells, _ = super().encode_moments(video)
        z = torch.einsum("bcthw,kc->bkthw", cells - self.centre.view(1, -1, 1, 1, 1).to(cells), self.basis.to(cells))
        return z, torch.zeros_like(z)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        cells = torch.einsum("bkthw,kc->bcthw", z, self.basis.to(z)) + self.centre.view(1, -1, 1, 1, 1).to(z)
        return super().decode_raw(cells, chunk)
