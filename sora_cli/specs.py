"""Model specs: frozen dataclasses of hyper-parameters, keyed by public name.

A spec is data. Every model runs through the same code; a new model is a new entry
here (or a spec carried in a checkpoint's metadata), never a new branch.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, replace

from sora_cli.noise import WHITE, NoiseSpec


@dataclass(frozen=True)
class VAESpec:
    # "conv": a learned causal 3D autoencoder; "pixels": raw pixels, space- and time-to-depth
    # (models/mini/pixels.py), exact and parameter-free: latent_channels = 3 * tf * sf * sf;
    # "linear": those pixel cells projected on their first latent_channels principal
    # components, fitted to the world's clips (models/mini/linear_latents.py); "frame": one
    # latent vector a frame, the frame's scene description, drawn at any size by a slot decoder
    # (models/mini/frame_latents.py).
    kind: str = "conv"
    latent_channels: int = 8
    base_channels: int = 32
    # One entry a stage; a spatial 2x downsample sits between consecutive stages.
    channel_mults: tuple[int, ...] = (1, 2, 4, 4)
    # Which of those downsamples also halve time (causally).
    temporal_down: tuple[bool, ...] = (False, True, True)
    res_blocks: int = 1
    # Pixels folded into channels (patch x patch) before the first layer, as Wan2.2's VAE does.
    patch: int = 1
    # "linear" only: each component k is divided by std_k ** whiten (times one constant that keeps
    # the latents' mean variance at 1). 1 whitens (every component unit variance), 0 is one global
    # scale (the truncated rotation of pixel space, so coarse components keep their larger variance).
    whiten: float = 1.0
    # "frame" only: gradient steps that refine the encoder's latents until the decoder draws the given frames
    # (analysis by synthesis), so a clip that animate, extend or loop continues is drawn again as it was.
    refine_steps: int = 0
    # "frame" only: passes of a [1, 2, 1] / 4 filter over time on the tracks of a window's new frames (settle), each
    # frame with both neighbours new, so neither given frames nor a cut's jump are smoothed into them.
    track_smoothing: int = 0

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.channel_mults) - 1) * self.patch

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.temporal_down)

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "pixels", "linear", "frame"):
            raise ValueError(f"unknown autoencoder kind '{self.kind}' (use conv, pixels, linear or frame)")
        if self.kind == "frame" and self.temporal_factor != 1:
            raise ValueError("frame latents do not compress time: temporal_down must be all False")
        if self.kind == "pixels" and self.latent_channels != self.cell_values:
            raise ValueError(f"pixel latents of this geometry have {self.cell_values} channels, "
                             f"not {self.latent_channels}")
        if self.kind == "linear" and not 0 < self.latent_channels <= self.cell_values:
            raise ValueError(f"linear latents take 1..{self.cell_values} components, not {self.latent_channels}")
        if not 0.0 <= self.whiten <= 1.0:
            raise ValueError(f"whiten is an exponent in [0, 1], not {self.whiten}")

    @property
    def scene_latents(self) -> bool:
        """One latent vector a frame that describes its scene ("frame"), drawn at any size and, in training,
        written by the renderer itself; every other kind is a grid of cells that grows with the frame."""
        return self.kind == "frame"

    def latent_hw(self, height: int, width: int) -> tuple[int, int]:
        """The latent grid (h, w) of a frame of this size."""
        return (1, 1) if self.scene_latents else (height // self.spatial_factor, width // self.spatial_factor)

    def noise_pool(self, preview: bool) -> int:
        """How a render's noise is drawn: a preview pools its full render's noise 2x2 over a grid, and has the
        very same latents as its full render when a frame is one vector."""
        return 2 if preview and not self.scene_latents else 1

    @property
    def cell_values(self) -> int:
        """Pixel values in one latent cell (3 colours x tf frames x sf x sf)."""
        return 3 * self.temporal_factor * self.spatial_factor**2


@dataclass(frozen=True)
class DiTSpec:
    dim: int = 256
    depth: int = 8
    heads: int = 4
    patch: tuple[int, int, int] = (1, 2, 2)  # (t, h, w) in latent cells
    mlp_ratio: float = 4.0
    freq_dim: int = 256
    rope_theta: float = 10000.0
    # Also tell each token where it sits in the frame (fractions of its width and height).
    # RoPE alone is relative: from pure noise a DiT could not tell left from right, so it
    # could not place "a ball on the left" (sora-mini v4 drew objects anywhere at t ~ 1).
    frame_positions: bool = False
    # "velocity": the network's output is the flow velocity; "clean": it predicts the clean
    # latents x0 and the velocity is derived from them, (x_t - x0) / t, as in "Back to Basics"
    # (JiT, Li & He 2025): in pixel space the clean clip is far easier to predict than noise.
    predicts: str = "velocity"
    # Also condition every token's adaLN on the caption's mean token (beside cross-attention),
    # so the prompt reaches the layout from the first step of sampling.
    pooled_text: bool = False
    # A depthwise convolution over the token grid in every block (t, h, w kernel; None: none), as
    # SANA's Mix-FFN: each token reads its neighbours' features from the first step, where attention
    # must learn to (benchmarks/token_reach.py found every attention-only DiT here a local denoiser).
    local_kernel: tuple[int, int, int] | None = None
    # Channel ranges (start, count) of a one-cell token that also get a token of their own, all of one count: part
    # tokens (for scene latents, one per object slot). A part token reads its channels, attends to the text and to
    # every token, and adds its prediction to its channels'; the whole token's own path never sees it and its output
    # starts at zero, so parts grown into a trained DiT change nothing until they learn. Each slot then reads its
    # phrase and follows its own track instead of both sharing one vector (sora-mini's binding fails on motion).
    part_tokens: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.predicts not in ("velocity", "clean"):
            raise ValueError(f"unknown prediction '{self.predicts}' (use velocity or clean)")
        if self.local_kernel is not None and any(k < 1 or k % 2 == 0 for k in self.local_kernel):
            raise ValueError(f"local_kernel sizes must be odd and positive, not {self.local_kernel}")
        if self.part_tokens:
            if self.patch != (1, 1, 1) or self.local_kernel is not None:
                raise ValueError("part tokens need one-cell patches (1, 1, 1) and no local_kernel")
            ranges = sorted(self.part_tokens)
            overlap = any(a + k > b for (a, k), (b, _) in zip(ranges, ranges[1:]))
            if len({count for _, count in ranges}) != 1 or overlap or any(a < 0 or k < 1 for a, k in ranges):
                raise ValueError(f"part tokens must be separate channel ranges of one count, not {self.part_tokens}")


@dataclass(frozen=True)
class TextSpec:
    vocab_size: int = 512
    dim: int = 256
    depth: int = 2
    heads: int = 4
    max_tokens: int = 48


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # The autoencoder's geometry (its factors and latent channels) is what the engine reads;
    # the rest of these three describe sora-mini's own networks. Wan's networks are sized by
    # their repository's config.json files, so a Wan spec leaves dit and text empty.
    vae: VAESpec = field(default_factory=VAESpec)
    dit: DiTSpec | None = None
    text: TextSpec | None = None
    fps: int = 24
    # Frames the DiT sees at once (1 + 4k); longer clips are chained windows.
    window_frames: int = 49
    # Frames of the previous window that condition the next one in a chain (1 + 4j).
    context_frames: int = 9
    # Largest working area (pixels) of a full render; a preview works at half each side.
    max_area: int = 256 * 144
    steps: int = 30
    preview_steps: int = 8
    guidance: float = 5.0
    # Times t (1 = noise, 0 = clean) at which guidance applies; elsewhere one conditional pass.
    guidance_interval: tuple[float, float] = (0.0, 1.0)
    # Guidance only at the tokens where the prompt pulls at least this share of their frame's hardest
    # (sampler.focus_mask); 0 guides every token.
    guidance_focus: float = 0.0
    shift: float = 3.0
    # The noise training and sampling start from (noise.py): white, or mixed with a smooth field.
    noise: NoiseSpec = WHITE
    negative: str = ""
    hf_repo: str | None = None
    revision: str | None = None
    # Working sizes the model was trained at; an output of about their aspect works at one of
    # them exactly, any other warns. Empty: trained at every aspect (sora-mini).
    native_sizes: tuple[tuple[int, int], ...] = ()
    # What `sora pull` fetches from hf_repo (glob patterns): only the files the engine reads.
    files: tuple[str, ...] = ()
    # `--dtype auto` on a CPU with native bf16 samples under bf16 autocast: set only when the model's
    # evaluation in bf16 showed no loss of adherence against float32.
    cpu_bf16: bool = False
    # The modes whose conditioning the model was trained for; in the others it works
    # training-free, through the same per-token timesteps (`sora models` and the README say which).
    trained_for: tuple[str, ...] = ("generate",)

    def __post_init__(self) -> None:
        lo, hi = self.guidance_interval
        if not 0.0 <= lo <= hi <= 1.0:
            # An empty interval would silently turn guidance off for every step.
            raise ValueError(f"guidance_interval must satisfy 0 <= LO <= HI <= 1, got {lo} {hi}")
        if not 0.0 <= self.guidance_focus <= 1.0:
            raise ValueError(f"guidance_focus must be in [0, 1], got {self.guidance_focus}")

    @property
    def token_cells(self) -> tuple[int, int]:
        """Latent cells a token spans (height, width); Wan's DiT also patches 2x2."""
        return self.dit.patch[1:] if self.dit is not None else (2, 2)

    @property
    def size_multiple(self) -> int:
        # Full latents must halve cleanly for previews, so 2x the VAE's factor.
        return 2 * self.vae.spatial_factor


# sora-mini (v20, docs/sora-mini-bakeoff.md, rounds eight to eighteen): a frame is one token. Its latent is the frame's
# scene latent (models/mini/frame_latents.py: background and the camera's marks, then two object slots), drawn back at
# any size by a slot decoder, so the DiT decides a whole frame in one token and cannot draw an object in pieces: 49
# tokens a 2 s window.
SORA_MINI = ModelSpec(
    name="sora-mini",
    vae=VAESpec(kind="frame", latent_channels=38, base_channels=16, channel_mults=(1, 2, 4, 8),
                temporal_down=(False, False, False), refine_steps=40,
                # A frame token's centre and size wobble by up to a tenth of the frame from one frame to the next where
                # the DiT is unsure (a close-up after a cut), and the wobble reads as another cut: on 16 storyboards
                # (v17), a cut is a cut in 12 with two passes against 9 with none (11 with one, 12 with four).
                track_smoothing=2),
    dit=DiTSpec(dim=192, depth=6, heads=3, patch=(1, 1, 1), pooled_text=True),
    text=TextSpec(vocab_size=256, dim=128, depth=2, heads=2, max_tokens=40),
    max_area=144 * 80,
    steps=30,
    # A preview draws the very latents of its full render, smaller, when it takes the same steps; 49 frame tokens make
    # them cheap (a 2 s preview: 5.5 s at 30 steps, 4.6 s at 8), and at 8 held-out adherence fell from 0.58 to 0.42.
    preview_steps=30,
    # Trained on and sampled from noise that drifts slowly over frames (0.98 from one frame to the next): each frame's
    # token is decided much from its own noise, so neighbouring frames that start alike stay alike (v11, trained on
    # white noise: flicker 1.88 against 3.11 at 20 budget minutes when sampled from this). Nothing of it is new every
    # frame: with a tenth white (v12) objects jittered (a centre's mean second difference over frames 0.033 against
    # 0.011, and motion 0.35 against 0.52, after the same 9 budget minutes; round ten).
    noise=NoiseSpec(smooth=1.0, width=0.1, frame_corr=0.98),
    # Guidance only while t >= 0.3: below it, where the clip's motion is fine-tuned, guidance multiplied the small
    # difference in motion between the two predictions, and a continued bounce flew out of the frame. 40 held-out
    # prompts (v15): full / preview adherence 0.925 / 0.874 against 0.901 / 0.854 guided throughout, motion 0.82
    # against 0.67; an extension's object more than 0.25 S from the world's in 6 of 259 frames against 29
    # (docs/sora-mini-bakeoff.md, round thirteen).
    guidance_interval=(0.3, 1.0),
    trained_for=("generate", "animate", "extend", "loop", "cut"),
)

# Wan2.1's own default negative prompt (from its pipeline's documentation): it steers away
# from the artefacts the model knows, and CFG needs it to look its best.
WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
                "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
                "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")

# Wan2.1-T2V-1.3B (Apache-2.0) from its Diffusers-format repository. The networks' sizes come
# from the repository's config.json files (the one source); this records what the engine needs around them:
# 8x8x4 compression to 16 channels, 81-frame windows (5 s at 16 fps), 832x480 native
# area, and the sampler settings of its model card (50 steps, guidance 5, flow shift 3).
WAN_T2V_1_3B = ModelSpec(
    name="wan2.1-t2v-1.3b",
    vae=VAESpec(latent_channels=16, base_channels=96, channel_mults=(1, 2, 4, 4), temporal_down=(False, True, True)),
    fps=16,
    window_frames=81,
    context_frames=9,
    max_area=832 * 480,
    native_sizes=((832, 480), (480, 832)),
    steps=50,
    preview_steps=20,
    guidance=5.0,
    shift=3.0,
    negative=WAN_NEGATIVE,
    hf_repo="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
    revision="0fad780a534b6463e45facd96134c9f345acfa5b",
    files=("model_index.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json", "*/config.json",
           "transformer/*.safetensors*", "vae/*.safetensors", "text_encoder/*.safetensors*"),
)

# Wan2.2-TI2V-5B (Apache-2.0): one model trained for text-to-video and image-to-video (its
# first latent frame given, at timestep 0 per token: the engine's own conditioning), at
# 1280x704 / 704x1280 and 24 fps; 121-frame windows (5 s). Its VAE compresses 4x16x16 to 48
# channels. Sampler settings from Wan2.2's ti2v_5B config: 50 steps, guidance 5, shift 5.
WAN_TI2V_5B = replace(
    WAN_T2V_1_3B,
    name="wan2.2-ti2v-5b",
    vae=VAESpec(latent_channels=48, base_channels=160, channel_mults=(1, 2, 4, 4), temporal_down=(False, True, True),
                patch=2),
    fps=24,
    window_frames=121,
    max_area=1280 * 704,
    native_sizes=((1280, 704), (704, 1280)),
    shift=5.0,
    hf_repo="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
    revision="b8fff7315c768468a5333511427288870b2e9635",
    trained_for=("generate", "animate"),
)

SPECS: dict[str, ModelSpec] = {s.name: s for s in (SORA_MINI, WAN_T2V_1_3B, WAN_TI2V_5B)}


def spec_to_json(spec: ModelSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def spec_from_json(text: str) -> ModelSpec:
    return _from_dict(ModelSpec, json.loads(text))


def _from_dict(cls: type, data: dict) -> object:
    """Build a (nested) frozen dataclass from plain data, rejecting unknown keys."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        hint = _dataclass_in(hints[key])
        if hint is not None and value is not None:
            value = _from_dict(hint, value)
        elif typing.get_origin(hints[key]) is tuple:
            value = _as_tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _dataclass_in(hint: object) -> type | None:
    """The dataclass a field holds: its type, or the one inside `X | None`."""
    if dataclasses.is_dataclass(hint):
        return hint
    return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)


def _as_tuple(value: object) -> object:
    """JSON lists back to the (nested) tuples a frozen spec holds, so specs compare and hash."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value
