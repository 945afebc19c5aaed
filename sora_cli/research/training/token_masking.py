"""Token masking for DiT training: some tokens of each clip are shown as pure noise.

benchmarks/token_reach.py found every sora-mini DiT a local denoiser: a token decides from its own
noisy values whether it holds an object, and nothing tells it that another token already does
(the patchwork). A masked token's own values say nothing about its clip, so the only way to
lower its loss is to read the other tokens and the caption: where the object is in the frames
before and after, and in the rest of this frame. Unlike MaskDiT, which drops masked tokens and
reconstructs them with a separate decoder, a masked token here stays in the sequence at t = 1
(x_t is its noise) and keeps the ordinary flow target there (noise - x0), so the same output head
learns it and nothing is added to the exported model. A learned flag on its input tells it apart
from a token at the frame's own time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sora_cli.models.mini.dit import token_grid


class TokenMasking(nn.Module):
    """A training-only flag added to masked tokens' inputs, and the share of tokens to mask."""

    def __init__(self, dim: int, ratio: float, object_weight: float = 0.0):
        super().__init__()
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"mask ratio must be between 0 and 1, not {ratio}")
        self.ratio, self.object_weight = ratio, object_weight
        self.flag = nn.Parameter(torch.randn(dim) * 0.02)

    def draw(self, batch: int, grid: tuple[int, int, int], generator: torch.Generator | None = None,
             objects: Tensor | None = None) -> Tensor:
        """A random (batch, gt, gh, gw) boolean token mask with round(ratio x tokens) set in each clip.

        With `objects` (batch, gt, gh, gw), the share of each token the renderer's objects cover, a token
        is drawn 1 + object_weight x share times as readily: a masked background token is told by any
        unmasked one, so uniform masks teach mostly the background, and an object's hidden part is what
        only agreement with its visible part (in this frame and the next) can find.
        """
        count = grid[0] * grid[1] * grid[2]
        keys = torch.rand(batch, count, generator=generator)
        if objects is not None and self.object_weight:
            # Weighted sampling without replacement (Efraimidis-Spirakis): the largest u^(1/w) win.
            keys = keys.log() / (1 + self.object_weight * objects.reshape(batch, count).float().cpu())
        ranks = keys.argsort(dim=1, descending=True).argsort(dim=1)
        return (ranks < round(self.ratio * count)).view(batch, *grid)

    def extra(self, mask: Tensor) -> Tensor:
        """What DiT.network adds to each token's embedding: the flag where masked, (B, N, D)."""
        return mask.flatten(1)[..., None].to(self.flag.dtype) * self.flag

    def hide(self, shape: tuple[int, ...], patch: tuple[int, int, int], generator: torch.Generator | None = None,
             objects: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """A mask for latents shaped (B, C, T, H, W), with the DiT's `patch`: -> (the hidden latent cells,
        (B, 1, T, H, W) bool, and `extra` for DiT.network), on the flag's device. `objects` (B, 1, T, H, W),
        1 on object cells, draws the mask toward them when object_weight is set."""
        share = token_share(objects, patch) if objects is not None and self.object_weight else None
        tokens = self.draw(shape[0], token_grid(shape, patch), generator, share).to(self.flag.device)
        return cell_mask(tokens, patch, shape[3:]), self.extra(tokens)


def token_share(cells: Tensor, patch: tuple[int, int, int]) -> Tensor:
    """(B, 1, T, H, W) per-cell values (1 on object cells) -> their mean over each token, (B, gt, gh, gw)."""
    _, ph, pw = patch
    _, _, _, H, W = cells.shape
    padded = F.pad(cells.float(), (0, (-W) % pw, 0, (-H) % ph))
    return F.avg_pool3d(padded, patch)[:, 0]


def cell_mask(mask: Tensor, patch: tuple[int, int, int], size: tuple[int, int]) -> Tensor:
    """A (B, gt, gh, gw) token mask spread over latent cells: (B, 1, T, H, W), cropped to `size`."""
    pt, ph, pw = patch
    cells = mask.repeat_interleave(pt, 1).repeat_interleave(ph, 2).repeat_interleave(pw, 3)
    return cells[:, None, :, : size[0], : size[1]]
