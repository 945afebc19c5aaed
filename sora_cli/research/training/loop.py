"""The training loop: the video autoencoder first (if the spec has one), then the DiT with the text encoder.

One entry point, `train(config)`, trains from scratch or resumes (from a checkpoint, else
from shipped weights), on CPU or CUDA, within a budget of wall-clock or CPU time, with
checkpoints, snapshots for learning curves, and a loss log.
"""

from __future__ import annotations

import copy
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from sora_cli.models.interface import batch_ids
from sora_cli.models.mini.dit import MIN_TIME
from sora_cli.models.mini.frame_latents import WHERE
from sora_cli.models.mini.network import VideoModel
from sora_cli.models.mini.tokenizer import WordTokenizer
from sora_cli.noise import draw as draw_noise
from sora_cli.research.training import checkpoint
from sora_cli.research.training.data import (
    LAYOUT_FEATURES,
    OFFSET_FEATURES,
    WorldMix,
    captions_for,
    clip_batch,
    foreground,
    latent_grid,
    layout_targets,
    pixel_cells,
    working_sizes,
)
from sora_cli.research.training.interrupts import deferred_interrupts
from sora_cli.research.training.latent_pool import Encoded, LatentPool
from sora_cli.research.training.scene_latents import batch_latents, slot_orders
from sora_cli.research.training.token_masking import TokenMasking
from sora_cli.research.world.captions import vocabulary
from sora_cli.runtime import has_native_bf16
from sora_cli.sampler import shift_time
from sora_cli.specs import ModelSpec

Log = Callable[[str], None]
# How much more an object pixel (or latent cell) counts than background in the losses.
OBJECT_WEIGHT_VAE, OBJECT_WEIGHT_DIT = 20.0, 4.0
# How much more the frames next to given ones count (1 + JOIN_WEIGHT at the join, fading over JOIN_REACH latent
# frames): a join is where a mistake shows, and v12 given a true first frame jumped 4.2x its typical step there.
JOIN_WEIGHT, JOIN_REACH = 3.0, 3.0
# Share of DiT captions left empty, so the model also learns the unconditional velocity for guidance.
DROP_TEXT = 0.1
# The autoencoder's (frames, clips) per step, up to a whole 49-frame window. Its receptive
# field spans more than a window, so it behaves differently at every distance from a clip's
# start, and the engine codes each window from its own start: trained on clips of up to 9
# frames, v2's round trip drifted further into a window (object colours 37 off at frame 0, 75 by
# frame 12, over 12 held-out clips).
VAE_CLIPS = ((1, 12), (9, 3), (17, 2), (33, 1), (49, 1))
# A scene-latent autoencoder learns from single frames (this many a step, times batch_scale), drawn at any
# time of their scenes' first 5 s (DiT batches start up to 3 s in and run 2 s). Its decoder learns from the
# true latents with this much noise added (of their [-1, 1] range) to what they say is drawn (flags, colours,
# shapes), so a DiT's near misses still draw clean frames; never to where it is, which taught it to blur.
FRAME_VAE_BATCH, FRAME_VAE_TIMES, FRAME_DECODER_NOISE = 4, 5.0, 0.05
# Seconds short of a snapshot time within which a run's end still takes that snapshot (a few steps' worth).
STEP_SLACK = 10.0
# Clips at each working size that a linear autoencoder is fitted to (14 sizes: ~160k cells at 8x8x4).
LATENT_FIT_CLIPS = 8


@dataclass(frozen=True)
class TrainConfig:
    spec: ModelSpec
    out: Path  # checkpoint and loss log folder
    minutes: float  # budget for this run (see `clock`)
    vae_minutes: float  # of which the autoencoder gets at most this (until it has trained that long in all)
    device: str = "cpu"
    seed: int = 0
    init_from: Path | None = None  # a model folder to start from when there is no checkpoint
    vae_lr: float = 5e-4
    dit_lr: float = 4e-4
    ema: float = 0.998
    checkpoint_minutes: float = 5.0
    # Clips a step = this x the CPU-sized batches (3 full-size clips, 12 images, ...).
    batch_scale: int = 1
    # Train on each encoded DiT batch about this many times (fresh noise, times and captions
    # each time): encoding a conv autoencoder's batch is over half of a CPU step, so reuse buys steps.
    reuse: int = 1
    # Training times t (1 = noise): None draws u uniformly and shifts it by the spec's shift;
    # a number draws t = sigmoid(N(time_mean, time_std)) (logit-normal, SD3), which at a
    # positive mean trains the high-noise steps, where a scene's layout is decided, more.
    time_mean: float | None = None
    time_std: float = 1.0
    # REPA-style alignment: a linear head on this block's hidden states predicts, per token,
    # which object attributes (colour, shape, size, motion) and background the renderer drew
    # there; its loss (x layout_weight) runs over the first layout_until of the DiT's budget.
    layout_weight: float = 0.0
    layout_block: int = 2
    layout_until: float = 0.5
    # The head also predicts, at every token, where each object of its latent frame is (data.layout_targets'
    # offsets): a fact of the whole frame, which from high noise only attention to the other tokens can find.
    layout_offsets: bool = False
    # Share of each clip's tokens shown as pure noise with a learned flag (research/training/token_masking.py):
    # their loss can only fall by reading the other tokens. 0: none.
    mask_ratio: float = 0.0
    # A token is masked 1 + this x (the share of it objects cover) times as readily (TokenMasking.draw).
    mask_object_weight: float = 0.0
    # bfloat16 autocast for the networks' passes: None = where the CPU has native bf16 (or on CUDA).
    bf16: bool | None = None
    # "wall": minutes of wall-clock; "cpu": this process's CPU time over the machine's cores,
    # so a run budgets the same compute when other jobs share the machine.
    clock: str = "wall"
    # Every this many budget minutes, also keep the EMA weights as a model folder in
    # out/snapshots/ (for learning curves); 0: never.
    snapshot_minutes: float = 0.0
    warmup_steps: int = 200
    # Share of the glue words ("while", "and", "on a ... background") left out of each training caption
    # (data.captions_for).
    drop_glue: float = 0.0
    # Leave the glue words in captions of scenes with a camera, whose camera clause they join too ("as the camera
    # pans left"). Round twelve's comparison: the camera right in 14 of 16 held-out clips with it, 16 without.
    camera_keeps_glue: bool = False
    # The object a cut's close-up frames is slot 0 of the DiT's latents, whichever the caption said first
    # (scene_latents.close_up_first); else slots follow the caption.
    close_ups_first: bool = False
    # The world's mix of scenes; a camera share trains pans, zooms, follows and cuts (docs/world.md).
    world: WorldMix = WorldMix()


def make_clock(kind: str) -> Callable[[], float]:
    if kind == "wall":
        return time.time
    if kind == "cpu":
        cores = os.cpu_count() or 1
        return lambda: time.process_time() / cores
    raise ValueError(f"unknown clock '{kind}' (use wall or cpu)")


def use_bf16(cfg: TrainConfig) -> bool:
    if cfg.bf16 is not None:
        return cfg.bf16
    return cfg.device.startswith("cuda") or has_native_bf16()


def _video_pass(net: VideoModel, rng: random.Random, spec: ModelSpec, device, scale: int, world: WorldMix):
    """A conv VAE on random sizes and lengths (it is fully convolutional); its regulariser is a small KL."""
    w, h = rng.choice([48, 64, 80, 96, 112, 128, 144]), rng.choice([48, 64, 80, 96, 112, 128, 144])
    frames, clips = rng.choice(VAE_CLIPS)
    x = clip_batch(rng, spec, scale * clips, frames, (w, h), max_offset=2.0, world=world).video.to(device)
    mean, logvar = net.vae.encode_moments(x)
    rec = net.vae.decoder(mean + torch.randn_like(mean) * (0.5 * logvar).exp())
    return x, rec, 1e-4 * 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()


def _scene_latent_pass(net: VideoModel, rng: random.Random, spec: ModelSpec, device, scale: int, world: WorldMix):
    """A scene-latent autoencoder learns both halves from the renderer's scene latents of single frames: the
    decoder draws the frames from them (slightly noised), and its regulariser is the encoder's regression of them."""
    # preview sizes: a scene latent draws at any size, and a quarter of the pixels buys four times the steps
    w, h = rng.choice(working_sizes(spec)[1::2])
    batch = clip_batch(rng, spec, scale * FRAME_VAE_BATCH, 1, (w, h), still_times=FRAME_VAE_TIMES, world=world)
    x = batch.video.to(device)
    target = batch_latents(batch.scenes, batch.starts, w, h, 1).to(device)
    what = (~WHERE).to(device)[None, :, None, None, None]
    rec = net.vae.decode_raw(target + FRAME_DECODER_NOISE * torch.randn_like(target) * what, chunk=1, size=(h, w))
    mean, _ = net.vae.encode_moments(x)
    errors = torch.stack([(mean - order).square().flatten(1).mean(1) for order in slot_orders(target)])
    # one object is slot 0, as its caption says; two are scored in the order that fits the encoder best
    single = torch.tensor([len(scene.things) == 1 for scene in batch.scenes], device=device)
    return x, rec, torch.where(single, errors[0], errors.min(dim=0).values).mean()


def vae_step(net: VideoModel, opt, rng: random.Random, spec: ModelSpec, device, scale: int = 1,
             world: WorldMix = WorldMix()) -> float:
    """One autoencoder step: a reconstruction loss weighted toward objects, plus the pass's own regulariser."""
    autoencoder_pass = _scene_latent_pass if spec.vae.scene_latents else _video_pass
    x, rec, regulariser = autoencoder_pass(net, rng, spec, device, scale, world)
    weight = 1 + OBJECT_WEIGHT_VAE * foreground(x)
    err = (rec - x).abs()
    loss = ((err + err.pow(2)) * weight).sum() / (weight.sum() * 3) + regulariser
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.vae.parameters(), 1.0)
    opt.step()
    return loss.item()


@torch.no_grad()
def measure_latent_stats(net: VideoModel, spec: ModelSpec, rng: random.Random, device,
                         world: WorldMix = WorldMix()) -> None:
    net.vae.latent_mean.zero_()
    net.vae.latent_std.fill_(1.0)
    zs = []
    scenes = spec.vae.scene_latents
    for size in working_sizes(spec)[::2]:
        # scene latents cost no rendering: enough clips that rare values (black and white, spins) are seen
        batch = clip_batch(rng, spec, 64 if scenes else 4, spec.window_frames, size, world=world, draw=not scenes)
        z = raw_latents(net, batch, size, spec.window_frames, device)
        zs.append(z.transpose(0, 1).reshape(z.shape[1], -1))
    z = torch.cat(zs, dim=1)
    std = z.std(dim=1)
    net.vae.latent_mean.copy_(z.mean(dim=1))
    # A channel that (nearly) never varies must not be divided by its tiny spread: one rare value would
    # reach the DiT a thousand times too loud (a scene latent's black-and-white flag did, in 28 clips).
    net.vae.latent_std.copy_(std.clamp_min(max(1e-3, 0.25 * std.median().item())))


def raw_latents(net: VideoModel, batch, size: tuple[int, int], frames: int, device,
                close_ups_first: bool = False) -> torch.Tensor:
    """A batch's latents before normalisation: frame latents are the renderer's own scene latents (exact,
    with no encoder pass and no rendering); any other autoencoder encodes the rendered clips."""
    if batch.video is None:
        return batch_latents(batch.scenes, batch.starts, *size, frames, close_ups_first).to(device)
    mean, _ = net.vae.encode_moments(batch.video.to(device))
    return mean


def encode_batch(net: VideoModel, rng: random.Random, spec: ModelSpec, device, sizes: list[tuple[int, int]],
                 scale: int = 1, layout: bool = False, world: WorldMix = WorldMix(), offsets: bool = False,
                 close_ups_first: bool = False) -> Encoded:
    """Render a DiT batch with random conditioning and encode it; images are one-frame videos."""
    size = rng.choice(sizes)
    image = rng.random() < 0.25
    preview = size[0] * size[1] < spec.max_area / 2
    frames = 1 if image else spec.window_frames
    count = scale * ((24 if preview else 12) if image else (6 if preview else 3))
    batch = clip_batch(rng, spec, count, frames, size, max_offset=3.0, world=world,
                       draw=not spec.vae.scene_latents)
    tf, sf = spec.vae.temporal_factor, spec.vae.spatial_factor
    with torch.no_grad():
        z = net.vae.normalise(raw_latents(net, batch, size, frames, device, close_ups_first))  # (B, C, L, h, w)
        b, c, length = z.shape[:3]
        strength = torch.zeros(b, length, device=device)
        for i, (mode, k) in enumerate(zip(batch.cond, batch.cond_latents)):
            if mode in ("first", "both"):
                strength[i, 0] = 1
            if mode == "first_k":
                strength[i, :k] = 1
            if mode in ("last_k", "both"):
                k = 1 if mode == "both" else k
                if batch.video is not None:  # end conditions are encoded on their own, as at inference
                    tail = net.vae.encode(batch.video[i:i + 1, :, -(1 + tf * (k - 1)):].to(device))
                    z[i, :, length - k:] = tail[0]
                strength[i, length - k:] = 1
        if batch.video is None:  # one vector a frame: every latent cell holds the frame's objects
            objects = torch.ones_like(z[:, :1])
        else:
            objects = latent_grid(foreground(batch.video.to(device)), tf, sf)
    targets = None
    if layout:
        _, ph, pw = spec.dit.patch
        targets = layout_targets(batch, frames, size, tf, (sf * ph, sf * pw), offsets).to(device)
    return Encoded(z, strength, objects, batch.scenes, targets, preview)


def sample_times(cfg: TrainConfig, count: int, device) -> torch.Tensor:
    if cfg.time_mean is None:
        return shift_time(torch.rand(count, device=device), cfg.spec.shift)
    return torch.sigmoid(cfg.time_mean + cfg.time_std * torch.randn(count, device=device))


def join_weight(strength: torch.Tensor, extra: float = JOIN_WEIGHT, reach: float = JOIN_REACH) -> torch.Tensor:
    """strength (B, L) -> (B, L): 1 + extra * exp(-(d - 1) / reach) at d latent frames from the nearest given one
    (strength 1); 1 everywhere in a clip with nothing given."""
    place = torch.arange(strength.shape[1], device=strength.device, dtype=torch.float32)
    apart = (place[:, None] - place[None, :]).abs()  # (L, L)
    far = torch.finfo(torch.float32).max
    d = torch.where(strength[:, None, :] >= 1, apart, far).amin(-1)  # (B, L)
    return 1 + extra * torch.exp(-(d - 1).clamp_min(0) / reach)


def flow_step(net: VideoModel, opt, rng: random.Random, cfg: TrainConfig, tok: WordTokenizer, device,
              batch: Encoded, head: torch.nn.Module | None = None, bf16: bool = False,
              masking: TokenMasking | None = None) -> float:
    """One flow-matching step on an encoded batch, with fresh noise, times and captions.

    The loss is on the velocity whatever the network predicts (JiT's x-prediction, v-loss);
    with `head`, the layout alignment loss of the block it watches is added; with `masking`,
    some tokens are pure noise (t = 1) and flagged.
    """
    spec = cfg.spec
    z, strength = batch.z, batch.strength
    t = sample_times(cfg, z.shape[0], device)
    t_frame = t[:, None] * (1 - strength)  # (B, L)
    gen = torch.Generator().manual_seed(rng.getrandbits(63))
    noise = draw_noise(z.shape, spec.noise, gen, pool=spec.vae.noise_pool(batch.preview)).to(z)
    tf5 = t_frame[:, None, :, None, None].expand(-1, 1, -1, *z.shape[3:])  # (B, 1, L, h, w): a time per cell
    extra = None
    if masking is not None:
        hidden, extra = masking.hide(z.shape, spec.dit.patch, torch.Generator().manual_seed(rng.getrandbits(63)),
                                     batch.objects)
        tf5 = torch.where(hidden, torch.ones_like(tf5), tf5)
    x_t = (1 - tf5) * z + tf5 * noise
    captions = captions_for(batch.scenes, rng, DROP_TEXT, cfg.drop_glue, cfg.camera_keeps_glue)
    ids, mask, _ = batch_ids(tok, captions, spec.text.max_tokens)
    ids, mask = ids.to(device), mask.to(device)
    hidden: list[torch.Tensor] = []
    hook = None
    if head is not None and batch.layout is not None:
        hook = net.dit.blocks[cfg.layout_block].register_forward_hook(lambda m, i, o: hidden.append(o))
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            ctx = net.text(ids, mask)
            out = net.dit.network(x_t, t_frame, ctx, mask, extra)
    finally:
        if hook is not None:
            hook.remove()
    frame_weight = (1 - strength) * join_weight(strength)  # (B, L)
    weight = frame_weight[:, None, :, None, None] * (1 + OBJECT_WEIGHT_DIT * batch.objects)  # (B, 1, L, h, w)
    norm = (weight.sum() * out.shape[1]).clamp_min(1)
    if spec.dit.predicts == "clean":
        # A clean prediction x0' has velocity error (x_t - x0') / t - (noise - x0) = (x0 - x0') / t: one
        # subtraction over the clip instead of four (each pass over a pixel clip costs ~80 ms on this CPU).
        error = (out.float() - z).square()
        weight = weight / tf5.clamp_min(MIN_TIME) ** 2
    else:
        error = (out.float() - (noise - z)).square()
    loss = (error * weight).sum() / norm
    if hidden:
        loss = loss + cfg.layout_weight * F.mse_loss(head(hidden[0].float()), batch.layout)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
    opt.step()
    return loss.item()


def dit_step(net: VideoModel, opt, rng: random.Random, cfg: TrainConfig, tok: WordTokenizer, device,
             sizes: list[tuple[int, int]], pool: LatentPool | None = None, head: torch.nn.Module | None = None,
             bf16: bool = False, masking: TokenMasking | None = None) -> float:
    """One DiT step: on a freshly encoded batch, or (as often as the pool says) on an earlier one."""
    if pool is not None and pool.reuse_now(rng):
        batch = pool.draw(rng)
    else:
        batch = encode_batch(net, rng, cfg.spec, torch.device(device), sizes, cfg.batch_scale, layout=head is not None,
                             world=cfg.world, offsets=cfg.layout_offsets, close_ups_first=cfg.close_ups_first)
        if pool is not None:
            pool.add(batch)
    return flow_step(net, opt, rng, cfg, tok, torch.device(device), batch, head, bf16, masking)


class Trainer:
    """A run's state: networks, optimisers, clock and budget; `run()` trains until the budget is spent."""

    def __init__(self, cfg: TrainConfig, log: Log):
        self.cfg, self.log = cfg, log
        torch.manual_seed(cfg.seed)
        self.rng = random.Random(cfg.seed + int(time.time()))
        self.device = torch.device(cfg.device)
        spec = cfg.spec
        self.tok = WordTokenizer(vocabulary())
        if len(self.tok) > spec.text.vocab_size:
            raise ValueError(f"vocabulary of {len(self.tok)} words exceeds the spec's {spec.text.vocab_size}")
        self.net = VideoModel(spec).to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.has_vae = any(True for _ in self.net.vae.parameters())
        features = LAYOUT_FEATURES + (OFFSET_FEATURES if cfg.layout_offsets else 0)
        self.head = torch.nn.Linear(spec.dit.dim, features).to(self.device) if cfg.layout_weight else None
        self.optims = {}
        if self.has_vae:
            self.optims["vae"] = torch.optim.AdamW(self.net.vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
        dit_params = list(self.net.dit.parameters()) + list(self.net.text.parameters())
        self.optims["dit"] = torch.optim.AdamW(dit_params, lr=cfg.dit_lr, betas=(0.9, 0.99), weight_decay=0.01)
        if self.head is not None:
            self.optims["head"] = torch.optim.AdamW(self.head.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
        self.masking = None
        if cfg.mask_ratio:
            self.masking = TokenMasking(spec.dit.dim, cfg.mask_ratio, cfg.mask_object_weight).to(self.device)
            self.optims["masking"] = torch.optim.AdamW(self.masking.parameters(), lr=cfg.dit_lr, weight_decay=0.0)
        # Training-only modules, kept in checkpoints to resume and never exported.
        self.extras = {name: m for name, m in (("head", self.head), ("masking", self.masking)) if m is not None}
        self.state = {"vae_steps": 0, "dit_steps": 0, "vae_seconds": 0.0, "dit_seconds": 0.0,
                      "stats": not self.has_vae, "snapshots": 0}
        self.clock = make_clock(cfg.clock)
        self.bf16 = use_bf16(cfg)
        self.sizes = working_sizes(spec)
        self.pool = LatentPool(reuse=cfg.reuse) if cfg.reuse > 1 else None

    def start(self) -> None:
        cfg = self.cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        if (cfg.out / "checkpoint.safetensors").is_file():
            self.state |= checkpoint.load(cfg.out, self.net, self.ema, self.optims, self.extras)
            self.log(f"resumed from {cfg.out}: {self.state}")
        elif cfg.init_from is not None:
            from sora_cli.weights import load_model

            loaded = load_model(str(cfg.init_from), self.device, torch.float32)
            new = grow_into(self.net, loaded.net.state_dict())
            self.ema.load_state_dict(self.net.state_dict())
            self.state.update(vae_seconds=cfg.vae_minutes * 60, stats=True)
            grown = f" (new layers: {', '.join(module_names(new))})" if new else ""
            self.log(f"starting from weights in {cfg.init_from}{grown}")
        elif hasattr(self.net.vae, "fit"):
            self._fit_latents()
        self.log(f"bf16 autocast: {self.bf16}; clock: {cfg.clock}; {torch.get_num_threads()} threads")

    def run(self) -> Path:
        cfg, state = self.cfg, self.state
        start = last_ckpt = self.clock()
        end = start + cfg.minutes * 60
        dit_start: float | None = None  # when this run reached the DiT: its rate decays over what is left
        losses: list[float] = []
        with open(cfg.out / "loss.csv", "a") as loss_log, deferred_interrupts() as raise_if_interrupted:
            while (now := self.clock()) < end:
                stage = "vae" if self.has_vae and state["vae_seconds"] < cfg.vae_minutes * 60 else "dit"
                if stage == "vae":
                    loss = self._vae_step()
                else:
                    dit_start = dit_start or now
                    loss = self._dit_step(now, dit_start, end)
                state[f"{stage}_steps"] += 1
                state[f"{stage}_seconds"] += self.clock() - now
                losses.append(loss)
                loss_log.write(f"{time.time():.1f},{stage},{state[stage + '_steps']},{loss:.5f}\n")
                if len(losses) == 50:
                    self.log(f"{stage} step {state[stage + '_steps']}: loss {sum(losses) / 50:.4f} "
                             f"({(self.clock() - start) / 60:.1f} budget min)")
                    losses.clear()
                    loss_log.flush()
                if math.isnan(loss):
                    raise FloatingPointError(f"loss became NaN at {stage} step {state[stage + '_steps']}")
                if now - last_ckpt > cfg.checkpoint_minutes * 60:
                    checkpoint.save(cfg.out, self.net, self.ema, self.optims, state, self.extras)
                    last_ckpt = now
                self._snapshot_if_due()
                try:
                    raise_if_interrupted()
                except KeyboardInterrupt:
                    checkpoint.save(cfg.out, self.net, self.ema, self.optims, state, self.extras)
                    self.log(f"interrupted: saved {cfg.out / 'checkpoint.safetensors'} at {stage} step "
                             f"{state[stage + '_steps']}")
                    raise
        if self.has_vae and state["vae_seconds"] >= cfg.vae_minutes * 60 and not state["stats"]:
            self._measure_stats()
        # The budget's clock stops a run a step short of its last whole snapshot time: take it anyway.
        self._snapshot_if_due(slack=STEP_SLACK)
        checkpoint.save(cfg.out, self.net, self.ema, self.optims, state, self.extras)
        self.log(f"saved {cfg.out / 'checkpoint.safetensors'}: {state}")
        return cfg.out

    def _vae_step(self) -> float:
        cfg, state = self.cfg, self.state
        # decay to a tenth over the autoencoder's time: a fixed budget ends on a low rate
        progress = state["vae_seconds"] / (cfg.vae_minutes * 60)
        for group in self.optims["vae"].param_groups:
            group["lr"] = cfg.vae_lr * (1 - 0.9 * progress)
        state["stats"] = False  # the latents move: measure their statistics again
        return vae_step(self.net, self.optims["vae"], self.rng, cfg.spec, self.device, cfg.batch_scale, cfg.world)

    def _fit_latents(self) -> None:
        """A linear autoencoder is fitted to the world's clips once, before the first step."""
        cells = pixel_cells(random.Random(self.cfg.seed), self.cfg.spec, LATENT_FIT_CLIPS, self.cfg.world)
        kept = self.net.vae.fit(cells)
        self.ema.load_state_dict(self.net.state_dict())
        self.log(f"linear latents fitted to {len(cells)} cells: {kept:.4%} of their variance kept")

    def _measure_stats(self) -> None:
        measure_latent_stats(self.net, self.cfg.spec, self.rng, self.device, self.cfg.world)
        self.ema.load_state_dict(self.net.state_dict())
        self.state["stats"] = True
        self.log(f"latent mean {self.net.vae.latent_mean.tolist()} std {self.net.vae.latent_std.tolist()}")

    def _dit_step(self, now: float, dit_start: float, end: float) -> float:
        cfg, state = self.cfg, self.state
        if not state["stats"]:
            self._measure_stats()
        self.net.vae.requires_grad_(False)
        warm = min(1.0, (state["dit_steps"] + 1) / cfg.warmup_steps)
        left = max(0.1, 1 - (now - dit_start) / max(end - dit_start, 1.0))
        for group in self.optims["dit"].param_groups:
            group["lr"] = cfg.dit_lr * warm * left
        aligning = self.head is not None and (now - dit_start) < cfg.layout_until * (end - dit_start)
        head = self.head if aligning else None
        # one optimiser step for the DiT and the training-only modules in use together
        names = ["dit"] + ["head"] * (head is not None) + ["masking"] * (self.masking is not None)
        opt = _Both(*(self.optims[name] for name in names))
        loss = dit_step(self.net, opt, self.rng, cfg, self.tok, self.device, self.sizes, self.pool, head, self.bf16,
                        self.masking)
        _ema_update(self.ema, self.net, min(cfg.ema, (1 + state["dit_steps"]) / (10 + state["dit_steps"])))
        return loss

    def _snapshot_if_due(self, slack: float = 0.0) -> None:
        cfg = self.cfg
        if not cfg.snapshot_minutes:
            return
        due = int((self.state["dit_seconds"] + slack) / (cfg.snapshot_minutes * 60))
        if due > self.state["snapshots"]:
            self.state["snapshots"] = due
            folder = cfg.out / "snapshots" / f"min{due * cfg.snapshot_minutes:05.1f}"
            if folder.exists():
                shutil.rmtree(folder)
            checkpoint.export_net(self.ema, cfg.spec, folder)
            self.log(f"snapshot {folder}")


class _Both:
    """Optimisers stepped as one (the DiT's and the training-only modules')."""

    def __init__(self, *optims):
        self.optims = optims
        self.param_groups = [g for o in optims for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optims:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.optims:
            o.step()


def train(cfg: TrainConfig, log: Log = print) -> Path:
    """Train within the budget; returns the checkpoint folder."""
    trainer = Trainer(cfg, log)
    trainer.start()
    return trainer.run()


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
