"""The training loops: the video autoencoder first, then the DiT (with the text encoder) on its latents.

One entry point, `train(config)`, trains from scratch or resumes (from a checkpoint, else
from shipped weights), on CPU or CUDA, within a time budget, with checkpoints and a loss log.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sora_cli.models.interface import batch_ids
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.research.training import checkpoint
from sora_cli.research.training.data import (
    captions_for,
    clip_batch,
    foreground,
    latent_grid,
    working_sizes,
)
from sora_cli.research.training.latent_pool import Encoded, LatentPool
from sora_cli.research.world.captions import vocabulary
from sora_cli.sampler import shift_time
from sora_cli.specs import ModelSpec

Log = Callable[[str], None]
# How much more an object pixel (or latent cell) counts than background in the losses.
OBJECT_WEIGHT_VAE, OBJECT_WEIGHT_DIT = 20.0, 4.0
# Share of DiT captions left empty, so the model also learns the unconditional velocity for guidance.
DROP_TEXT = 0.1
# The autoencoder's (frames, clips) per step, up to a whole 49-frame window. Its receptive
# field spans more than a window, so it behaves differently at every distance from a clip's
# start, and the engine codes each window from its own start: trained on clips of up to 9
# frames, v2's round trip drifted further into a window (object colours 37 off at frame 0, 75 by
# frame 12, over 12 held-out clips).
VAE_CLIPS = ((1, 12), (9, 3), (17, 2), (33, 1), (49, 1))


@dataclass(frozen=True)
class TrainConfig:
    spec: ModelSpec
    out: Path  # checkpoint and loss log folder
    minutes: float  # wall-clock budget for this run
    vae_minutes: float  # of which the autoencoder gets at most this (until it has trained that long in all)
    device: str = "cpu"
    seed: int = 0
    init_from: Path | None = None  # a model folder to start from when there is no checkpoint
    vae_lr: float = 5e-4
    dit_lr: float = 4e-4
    ema: float = 0.998
    checkpoint_minutes: float = 5.0
    # Clips a step = this x the CPU-sized batches (3 full-size clips, 12 images, ...): a GPU wants 16 or more.
    batch_scale: int = 1
    # Train on each encoded DiT batch about this many times (fresh noise, times and captions
    # each time): encoding is over half of a CPU step, so reuse buys steps.
    reuse: int = 1


def vae_step(net: VideoModel, opt, rng: random.Random, spec: ModelSpec, device, scale: int = 1) -> float:
    """One autoencoder step on random sizes and lengths (it is fully convolutional)."""
    w, h = rng.choice([48, 64, 80, 96, 112, 128, 144]), rng.choice([48, 64, 80, 96, 112, 128, 144])
    frames, clips = rng.choice(VAE_CLIPS)
    batch = clip_batch(rng, spec, scale * clips, frames, (w, h), max_offset=2.0)
    x = batch.video.to(device)
    mean, logvar = net.vae.encode_moments(x)
    z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
    rec = net.vae.decoder(z)
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
    weight = 1 + OBJECT_WEIGHT_VAE * foreground(x)
    err = (rec - x).abs()
    loss = ((err + err.pow(2)) * weight).sum() / (weight.sum() * 3) + 1e-4 * kl
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.vae.parameters(), 1.0)
    opt.step()
    return loss.item()


@torch.no_grad()
def measure_latent_stats(net: VideoModel, spec: ModelSpec, rng: random.Random, device) -> None:
    net.vae.latent_mean.zero_()
    net.vae.latent_std.fill_(1.0)
    zs = []
    for size in working_sizes(spec)[::2]:
        batch = clip_batch(rng, spec, 4, spec.window_frames, size)
        z = net.vae.encode(batch.video.to(device))
        zs.append(z.transpose(0, 1).reshape(z.shape[1], -1))
    z = torch.cat(zs, dim=1)
    net.vae.latent_mean.copy_(z.mean(dim=1))
    net.vae.latent_std.copy_(z.std(dim=1).clamp_min(1e-3))


def encode_batch(net: VideoModel, rng: random.Random, spec: ModelSpec, device, sizes: list[tuple[int, int]],
                 scale: int = 1) -> Encoded:
    """Render a DiT batch with random conditioning and encode it; images are one-frame videos."""
    size = rng.choice(sizes)
    image = rng.random() < 0.25
    preview = size[0] * size[1] < spec.max_area / 2
    frames = 1 if image else spec.window_frames
    count = scale * ((24 if preview else 12) if image else (6 if preview else 3))
    batch = clip_batch(rng, spec, count, frames, size, max_offset=3.0)
    tf = spec.vae.temporal_factor
    with torch.no_grad():
        video = batch.video.to(device)
        z = net.vae.encode(video)  # (B, C, L, h, w)
        b, c, length = z.shape[:3]
        strength = torch.zeros(b, length, device=device)
        for i, (mode, k) in enumerate(zip(batch.cond, batch.cond_latents)):
            if mode in ("first", "both"):
                strength[i, 0] = 1
            if mode == "first_k":
                strength[i, :k] = 1
            if mode in ("last_k", "both"):
                k = 1 if mode == "both" else k
                # End conditions are encoded on their own, exactly as at inference.
                tail = net.vae.encode(video[i:i + 1, :, -(1 + tf * (k - 1)):])
                z[i, :, length - k:] = tail[0]
                strength[i, length - k:] = 1
        objects = latent_grid(foreground(video), tf, spec.vae.spatial_factor)
    return Encoded(z, strength, objects, batch.scenes)


def flow_step(net: VideoModel, opt, rng: random.Random, spec: ModelSpec, tok: WordTokenizer, device,
              batch: Encoded) -> float:
    """One flow-matching step on an encoded batch, with fresh noise, times and captions."""
    z, strength = batch.z, batch.strength
    t = shift_time(torch.rand(z.shape[0], device=device), spec.shift)
    t_frame = t[:, None] * (1 - strength)  # (B, L)
    noise = torch.randn_like(z)
    tf5 = t_frame[:, None, :, None, None]
    x_t = (1 - tf5) * z + tf5 * noise
    ids, mask, _ = batch_ids(tok, captions_for(batch.scenes, rng, DROP_TEXT), spec.text.max_tokens)
    ids, mask = ids.to(device), mask.to(device)
    ctx = net.text(ids, mask)
    pred = net.dit(x_t, t_frame, ctx, mask)
    weight = ((1 - strength)[:, None, :, None, None] * (1 + OBJECT_WEIGHT_DIT * batch.objects)).expand_as(pred)
    loss = ((pred - (noise - z)) ** 2 * weight).sum() / weight.sum().clamp_min(1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], 1.0)
    opt.step()
    return loss.item()


def dit_step(net: VideoModel, opt, rng: random.Random, spec: ModelSpec, tok: WordTokenizer, device,
             sizes: list[tuple[int, int]], scale: int = 1, pool: LatentPool | None = None) -> float:
    """One DiT step: on a freshly encoded batch, or (as often as the pool says) on an earlier one."""
    if pool is not None and pool.reuse_now(rng):
        return flow_step(net, opt, rng, spec, tok, device, pool.draw(rng))
    batch = encode_batch(net, rng, spec, device, sizes, scale)
    if pool is not None:
        pool.add(batch)
    return flow_step(net, opt, rng, spec, tok, device, batch)


def train(cfg: TrainConfig, log: Log = print) -> Path:
    """Train within the budget; returns the checkpoint folder."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed + int(time.time()))
    device = torch.device(cfg.device)
    spec = cfg.spec
    tok = WordTokenizer(vocabulary())
    if len(tok) > spec.text.vocab_size:
        raise ValueError(f"vocabulary of {len(tok)} words exceeds the spec's {spec.text.vocab_size}")
    net = VideoModel(spec).to(device)
    ema = copy.deepcopy(net).requires_grad_(False)
    vae_opt = torch.optim.AdamW(net.vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    dit_params = list(net.dit.parameters()) + list(net.text.parameters())
    dit_opt = torch.optim.AdamW(dit_params, lr=cfg.dit_lr, betas=(0.9, 0.99), weight_decay=0.01)
    optims = {"vae": vae_opt, "dit": dit_opt}
    state = {"vae_steps": 0, "dit_steps": 0, "vae_seconds": 0.0, "dit_seconds": 0.0, "stats": False}
    cfg.out.mkdir(parents=True, exist_ok=True)
    if (cfg.out / "checkpoint.safetensors").is_file():
        state = checkpoint.load(cfg.out, net, ema, optims)
        log(f"resumed from {cfg.out}: {state}")
    elif cfg.init_from is not None:
        from sora_cli.weights import load_model

        loaded = load_model(str(cfg.init_from), device, torch.float32)
        new = grow_into(net, loaded.net.state_dict())
        ema.load_state_dict(net.state_dict())
        state.update(vae_seconds=cfg.vae_minutes * 60, stats=True)
        grown = f" (new layers: {', '.join(module_names(new))})" if new else ""
        log(f"starting from weights in {cfg.init_from}{grown}")
    sizes = working_sizes(spec)
    start = last_ckpt = time.time()
    end = start + cfg.minutes * 60
    dit_start: float | None = None  # when this run reached the DiT: its rate decays over what is left
    losses: list[float] = []
    pool = LatentPool(reuse=cfg.reuse) if cfg.reuse > 1 else None
    with open(cfg.out / "loss.csv", "a") as loss_log:
        while (now := time.time()) < end:
            stage = "vae" if state["vae_seconds"] < cfg.vae_minutes * 60 else "dit"
            t0 = time.time()
            if stage == "vae":
                # decay to a tenth over the autoencoder's time: a fixed budget ends on a low rate
                progress = state["vae_seconds"] / (cfg.vae_minutes * 60)
                for group in vae_opt.param_groups:
                    group["lr"] = cfg.vae_lr * (1 - 0.9 * progress)
                loss = vae_step(net, vae_opt, rng, spec, device, cfg.batch_scale)
                state["stats"] = False  # the latents moved: measure their statistics again
            else:
                if not state["stats"]:
                    measure_latent_stats(net, spec, rng, device)
                    ema.load_state_dict(net.state_dict())
                    state["stats"] = True
                    log(f"latent mean {net.vae.latent_mean.tolist()} std {net.vae.latent_std.tolist()}")
                net.vae.requires_grad_(False)
                warm = min(1.0, (state["dit_steps"] + 1) / 200)
                dit_start = dit_start or now
                left = max(0.1, 1 - (now - dit_start) / max(end - dit_start, 1.0))
                for group in dit_opt.param_groups:
                    group["lr"] = cfg.dit_lr * warm * left
                loss = dit_step(net, dit_opt, rng, spec, tok, device, sizes, cfg.batch_scale, pool)
                _ema_update(ema, net, min(cfg.ema, (1 + state["dit_steps"]) / (10 + state["dit_steps"])))
            state[f"{stage}_steps"] += 1
            state[f"{stage}_seconds"] += time.time() - t0
            losses.append(loss)
            loss_log.write(f"{time.time():.1f},{stage},{state[stage + '_steps']},{loss:.5f}\n")
            if len(losses) == 50:
                log(f"{stage} step {state[stage + '_steps']}: loss {sum(losses) / 50:.4f} "
                    f"({(time.time() - start) / 60:.1f} min)")
                losses.clear()
                loss_log.flush()
            if math.isnan(loss):
                raise FloatingPointError(f"loss became NaN at {stage} step {state[stage + '_steps']}")
            if now - last_ckpt > cfg.checkpoint_minutes * 60:
                checkpoint.save(cfg.out, net, ema, optims, state)
                last_ckpt = now
    if state["vae_seconds"] >= cfg.vae_minutes * 60 and not state["stats"]:
        measure_latent_stats(net, spec, rng, device)
        ema.load_state_dict(net.state_dict())
        state["stats"] = True
    checkpoint.save(cfg.out, net, ema, optims, state)
    log(f"saved {cfg.out / 'checkpoint.safetensors'}: {state}")
    return cfg.out


def grow_into(net: VideoModel, weights: dict[str, torch.Tensor]) -> list[str]:
    """Load weights made by a spec that lacked some of `net`'s layers; -> the names of those layers.

    Layers a spec adds start out changing nothing (DiTSpec.frame_positions at zero, extra
    DiT blocks as adaLN-Zero identities), so the grown model begins as the one it grew from.
    Weights the net has no place for, or of another shape, are refused.
    """
    result = net.load_state_dict(weights, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"weights the model has no place for: {', '.join(result.unexpected_keys)}")
    return list(result.missing_keys)


def module_names(names: list[str]) -> list[str]:
    """Parameter names as the layers or blocks that hold them: dit.blocks.6.attn.q.weight -> dit.blocks.6."""
    out: dict[str, None] = {}
    for name in names:
        parts = name.split(".")
        index = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts) - 2)
        out[".".join(parts[:index + 1])] = None
    return list(out)


@torch.no_grad()
def _ema_update(ema: VideoModel, net: VideoModel, decay: float) -> None:
    for e, p in zip(ema.parameters(), net.parameters()):
        e.lerp_(p, 1 - decay)
    for e, b in zip(ema.buffers(), net.buffers()):
        e.copy_(b)
