"""Token masking in DiT training: masked tokens are pure noise, flagged, and kept in checkpoints."""

import random
from dataclasses import replace

import pytest
import torch
from test_pixels import TINY_PIXELS

from sora_cli.models.mini.dit import token_grid
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.research.training import loop
from sora_cli.research.training.checkpoint import load
from sora_cli.research.training.data import working_sizes
from sora_cli.research.training.token_masking import (
    TokenMasking,
    cell_mask,
    token_share,
)
from sora_cli.research.world.captions import vocabulary

VELOCITY = replace(TINY_PIXELS, dit=replace(TINY_PIXELS.dit, predicts="velocity"),
                   text=replace(TINY_PIXELS.text, vocab_size=256, max_tokens=40))


def test_a_mask_takes_the_same_share_of_every_clip_and_covers_its_tokens_cells():
    masking = TokenMasking(8, 0.25)
    mask = masking.draw(3, (3, 4, 5), torch.Generator().manual_seed(0))
    assert mask.shape == (3, 3, 4, 5) and mask.flatten(1).sum(1).tolist() == [15, 15, 15]
    assert not torch.equal(mask[0], mask[1])  # each clip draws its own
    cells = cell_mask(mask, (1, 2, 2), (7, 9))  # the last token row and column are partial
    assert cells.shape == (3, 1, 3, 7, 9)
    for t, y, x in [(0, 0, 0), (1, 6, 8), (2, 3, 4), (0, 5, 1)]:
        assert bool(cells[1, 0, t, y, x]) == bool(mask[1, t, y // 2, x // 2])
    assert token_grid((1, 4, 3, 7, 9), (1, 2, 2)) == (3, 4, 5)
    extra = masking.extra(mask)
    assert extra.shape == (3, 60, 8)
    assert torch.equal(extra.abs().sum(-1) > 0, mask.flatten(1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        TokenMasking(8, 1.0)


def test_masks_drawn_toward_objects_hide_more_of_them_and_as_many_tokens_in_all():
    objects = torch.zeros(300, 1, 13, 10, 18)  # latent cells; one object of 2x4 cells in every latent frame
    objects[:, :, :, 4:6, 6:10] = 1
    share = token_share(objects, (1, 2, 2))
    assert share.shape == (300, 13, 5, 9) and share.sum().item() == 300 * 13 * 2
    on = share > 0
    uniform = TokenMasking(8, 0.25).draw(300, (13, 5, 9), torch.Generator().manual_seed(0), share)
    toward = TokenMasking(8, 0.25, object_weight=2.0).draw(300, (13, 5, 9), torch.Generator().manual_seed(0), share)
    assert uniform[on].float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert toward[on].float().mean().item() > 0.45 and toward[~on].float().mean().item() < 0.25
    assert toward.flatten(1).sum(1).eq(round(0.25 * 585)).all()


def test_masked_tokens_are_pure_noise_at_time_one_and_only_they_carry_the_flag(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = VideoModel(VELOCITY)
    for name, p in net.dit.named_parameters():  # past adaLN-Zero's start, so gradients reach the inputs
        if "ada" in name or "proj_out" in name:
            torch.nn.init.normal_(p, std=0.05)
    # Nearly clean times, so every unmasked cell is close to its clean value.
    cfg = loop.TrainConfig(VELOCITY, tmp_path, 1, 0, time_mean=-8.0, time_std=0.01, mask_ratio=0.5)
    batch = loop.encode_batch(net, random.Random(0), VELOCITY, torch.device("cpu"), working_sizes(VELOCITY)[:1])
    batch = replace(batch, z=torch.full_like(batch.z, 50.0), strength=torch.zeros_like(batch.strength))
    seen = {}
    network = net.dit.network

    def spy(x, t, ctx, ctx_mask, extra=None):
        seen.update(x=x.detach().clone(), extra=extra.detach().clone())
        return network(x, t, ctx, ctx_mask, extra)

    monkeypatch.setattr(net.dit, "network", spy)
    masking = TokenMasking(VELOCITY.dit.dim, 0.5)
    opt = torch.optim.SGD(list(net.parameters()) + list(masking.parameters()), lr=0.0)
    loop.flow_step(net, opt, random.Random(1), cfg, WordTokenizer(vocabulary()), torch.device("cpu"), batch,
                   masking=masking)
    grid = token_grid(batch.z.shape, VELOCITY.dit.patch)
    tokens = (seen["extra"].abs().sum(-1) > 0).view(-1, *grid)
    assert tokens.float().mean().item() == pytest.approx(0.5, abs=0.05)
    cells = cell_mask(tokens, VELOCITY.dit.patch, batch.z.shape[3:]).expand_as(seen["x"])
    assert seen["x"][cells].abs().max() < 8  # noise alone: nothing of the clean 50s is left
    assert seen["x"][~cells].min() > 45  # the rest is at its own (nearly clean) time
    assert masking.flag.grad is not None and masking.flag.grad.abs().sum() > 0  # the flag learns


def test_a_masked_run_keeps_its_flag_in_the_checkpoint_and_resumes_it(tmp_path):
    cfg = loop.TrainConfig(VELOCITY, tmp_path / "run", 60, 0, warmup_steps=1, bf16=False, mask_ratio=0.25)
    trainer = loop.Trainer(cfg, lambda _: None)
    trainer.start()
    for name, p in trainer.net.dit.named_parameters():
        if "ada" in name or "proj_out" in name:
            torch.nn.init.normal_(p, std=0.05)
    before = trainer.masking.flag.detach().clone()
    trainer._dit_step(0.0, 0.0, 60.0)
    assert not torch.equal(trainer.masking.flag, before)  # stepped with the DiT
    from sora_cli.research.training import checkpoint

    checkpoint.save(cfg.out, trainer.net, trainer.ema, trainer.optims, trainer.state, trainer.extras)
    fresh = loop.Trainer(cfg, lambda _: None)
    load(cfg.out, fresh.net, fresh.ema, fresh.optims, fresh.extras)
    assert torch.equal(fresh.masking.flag, trainer.masking.flag)
    assert "masking" in fresh.optims and fresh.optims["masking"].state_dict()["state"]
