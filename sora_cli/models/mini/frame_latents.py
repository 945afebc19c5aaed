"""Scene latents: a whole frame as one vector that describes it, drawn back at any size.

Every DiT of the bake-off (docs/sora-mini-bakeoff.md, rounds one to seven) denoised a grid of tokens
token by token: where the tokens must agree on where the one object is, each decided alone, and
objects came out as patchworks. Here a frame is one latent vector (one token of the DiT), so the
whole layout is decided inside one token, and the decoder can only draw frames like the world's.

The latent is laid out as the world describes a frame (SCENE_LAYOUT): its background and the camera's marks
(shown, their lattice's spacing and phase on screen), then one slot per object (present, colour, shape, centre,
size, angle), all as the frame shows them. The renderer knows these for every frame it draws, so the autoencoder is
trained with them as targets (research/training/scene_latents.py): the encoder regresses them from pixels, and the
decoder draws frames from them. That is the cheap supervision issue 18 names, which no real-world model has; it
makes both halves learn in minutes, and it lets the DiT train on the exact latents of rendered scenes with no
encoder in its step.

The encoder scores every pixel (its colour, its difference from the frame's border colour, its coordinates) for a
few attention-pooling heads, so a head can settle on one object and read its colour and centre; `encode` then
refines its guess by gradient steps until the decoder draws the given frames. The decoder paints a background, the
marks, then each slot over them: near a slot's centre every pixel runs a small MLP on the slot's vector and its
offset from the centre in slot sizes (also turned by the slot's angle), correcting the signed distance to the
edge of the shape the slot names (the world's three, drawn as its renderer draws them) and its colour.
Positions are fractions, so one latent draws the same scene at every size and aspect: a preview is its full
render's latent drawn smaller. Time is not compressed: each latent frame is one frame. The DiT sees the camera's
lattice as its offset unwrapped over the clip (`normalise`), and `settle` holds what a clip keeps and continues
the tracks across joins.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from sora_cli.models.interface import NormalisedLatents
from sora_cli.specs import VAESpec

# Fourier frequencies (in cycles over the frame) of the encoder's coordinate channels: with them a
# small convolution knows where it is in the frame to a few pixels, so pooling can read positions.
FREQUENCIES = (1, 2, 4, 8, 16)
POOL_HEADS = 8
# Refinement's step size (raw latents span about [-1, 1]).
REFINE_LR = 0.02
# The encoder reads, and refinement fits, frames of at most this many pixels (larger ones are scaled down first):
# both halves train at preview sizes (up to 56x56). At full size the encoder's 3x3 layer saw edges it never learned
# from (round trip L1 0.29 against 0.06 scaled down), and refining there costs 4x for the same full-size error.
# Positions are fractions of the frame, so a frame scaled down says the same scene.
READ_AREA = 56 * 56


def coordinates(height: int, width: int, device, dtype, frequencies: tuple[int, ...] = FREQUENCIES) -> Tensor:
    """(5 + 4 * len(frequencies), H, W): x and y as fractions of the frame in [-1, 1], as fractions
    of its shorter side, log aspect, and sin / cos features of the frame fractions."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    short = min(height, width)
    aspect = torch.full_like(x, math.log(width / height))
    feats = [x, y, x * width / short, y * height / short, aspect]
    for f in frequencies:
        feats += [torch.sin(math.pi * f * x), torch.cos(math.pi * f * x),
                  torch.sin(math.pi * f * y), torch.cos(math.pi * f * y)]
    return torch.stack(feats).to(dtype)


COORDS = 5 + 4 * len(FREQUENCIES)
# The decoder's pixels know x and y as fractions of the frame and of its shorter side (no Fourier features:
# a shape is a simple function of the pixel's offset from its centre, which one linear layer can form).
PIXEL_COORDS = 4
# How a frame's latent is laid out (research/training/scene_latents.py writes the world's frames this way):
# the background (colour, black and white, then the camera's marks: shown, the lattice's spacing on screen and its
# phase along x and y as cos and sin), then per object slot: present, colour, shape (3), centre (2), size, angle (4:
# cos and sin of 3 and 4 times it, a triangle's and a square's symmetries).
BACKGROUND, SLOT, SLOTS = 10, 14, 2
SCENE_LAYOUT = BACKGROUND + SLOT * SLOTS
# Where the black-and-white flag, the marks' flag, their spacing (log of shorter sides) and phases sit in the
# background's vector.
BW, MARKS, SPACING, PHASE = 3, 4, 5, 6
# Where a slot's present flag, colour, shape, centre (x, y) and then size, and its angle's cos and sin of 3 and 4
# times it, sit in the slot's vector.
PRESENT, COLOUR, SHAPE, CENTRE, ANGLES = 0, 1, 4, 7, 10


def _channels(background: list[int], slot: list[int]) -> Tensor:
    """(SCENE_LAYOUT,) bool: these channels of the background part and these of every slot."""
    mask = torch.zeros(SCENE_LAYOUT, dtype=torch.bool)
    mask[background] = True
    for k in range(SLOTS):
        mask[[BACKGROUND + SLOT * k + i for i in slot]] = True
    return mask


# The lattice a frame without a camera is written with: the world's identity view, marks STILL_SPACING shorter sides
# apart (the world's MARK_SPACING) with the frame's centre at the world's. No pixel shows it, as no marks are drawn,
# so the encoder can only guess it; `snap` writes it instead (v12's animate seam: 12x the typical change with the
# guess, 7x with this).
STILL_SPACING = 0.2


def still_lattice(width: int, height: int) -> Tensor:
    """(5,): the lattice channels (SPACING, then PHASE's four) of a width x height frame without a camera."""
    step = STILL_SPACING * min(width, height)
    x, y = 2 * math.pi * (width / 2) / step, 2 * math.pi * (height / 2) / step
    return torch.tensor([math.log(STILL_SPACING), math.cos(x), math.sin(x), math.cos(y), math.sin(y)])


# The channels that say where things are drawn: the marks' lattice; each slot's centre, size and angle.
WHERE = _channels(list(range(SPACING, PHASE + 4)), list(range(CENTRE, SLOT)))
# The channels snap() decides (the flags, and each slot's present flag and shape) and refinement then leaves alone.
DISCRETE = _channels([BW, MARKS], [PRESENT, SHAPE, SHAPE + 1, SHAPE + 2])
# What the world keeps for a whole clip, cuts and camera moves included: what snap() decides, and the background's
# and each slot's colour. The DiT draws them a little differently in every frame (v12: a background 0.03 off, about
# 4 levels, right after given frames: animate's seam 9.3x the typical change, 2.7x held), so `settle` holds them
# over a window.
STEADY = DISCRETE | _channels([0, 1, 2], [COLOUR, COLOUR + 1, COLOUR + 2])
# What moves along a track, which a join continues (continue_tracks): each slot's centre and size, and the lattice's
# spacing and offsets (the DiT's units: PHASE and PHASE + 1 are offsets, see FrameLatents.normalise). Angles are left
# as sampled: as cos and sin, a correction by differences would leave the unit circle.
TRACKS = _channels([SPACING, PHASE, PHASE + 1], [CENTRE, CENTRE + 1, CENTRE + 2])
# Frames over which a join's excess step is dissolved (3, 6 and 12 gave the same seams).
JOIN_RAMP = 6
# A slot's pixels know their offset from its centre in its sizes (2), and the same offset turned by the slot's
# angle as a triangle's (2) and as a square's (2) symmetry reads it: the offset in the shape's own frame.
SLOT_COORDS = 6
# The renderer covers a pixel by clamp(0.5 - distance, 0, 1), distance in pixels; sigmoid(-4 d) has its slope.
EDGE = 4.0
# A slot draws only within this many of its sizes of its centre (along x and y, plus two pixels of edge), and a mark
# within this many lattice spacings of its point: the world's shapes fit in half a size (0.71 turned) and its marks
# in an eighth of a spacing. Pixels further away are never computed, which makes drawing and training many times
# cheaper (objects cover a few percent of a frame). Slots and marks whose flag is below SHOWN are not drawn at all.
SLOT_REACH, MARK_REACH, SHOWN = 0.75, 0.25, -0.6
# How sharply a slot's shape channels (one at +1, the others at -1 in the world's latents) pick its shape's distance:
# at the world's values the named shape weighs 0.9993.
SHAPE_SHARPNESS = 4.0


class FrameEncoder(nn.Module):
    """Finds a frame's background and objects by attention over its pixels.

    Each pixel is its colour, its difference from the frame's border colour (the world's backgrounds are flat,
    and objects cover a few percent of a frame) and its coordinates; a per-pixel MLP scores it for a few pooling
    heads and gives it a value, so a head can settle on one object and read its colour and centre as weighted
    means. Shallow on purpose: a deep plain conv net learned no object in 600 steps here, this learns them
    in a few hundred.
    """

    def __init__(self, spec: VAESpec):
        super().__init__()
        hidden = 4 * spec.base_channels
        self.pixel = nn.Sequential(nn.Conv2d(6 + COORDS, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, hidden, 3, padding=1),
                                   nn.SiLU(), nn.Conv2d(hidden, hidden, 1))
        self.score = nn.Conv2d(hidden, POOL_HEADS, 1)
        self.out = nn.Sequential(nn.Linear(POOL_HEADS * (hidden + 6 + COORDS), 8 * spec.latent_channels), nn.SiLU(),
                                 nn.Linear(8 * spec.latent_channels, spec.latent_channels))

    def forward(self, frames: Tensor) -> Tensor:  # (N, 3, H, W) -> (N, z)
        n, _, h, w = frames.shape
        border = torch.cat([frames[..., 0, :], frames[..., -1, :], frames[..., :, 0], frames[..., :, -1]], dim=-1)
        away = frames - border.median(dim=-1).values[..., None, None]
        where = repeat(coordinates(h, w, frames.device, frames.dtype), "c h w -> n c h w", n=n)
        x = torch.cat([frames, away, where], dim=1)
        feats = self.pixel(x)
        attn = self.score(feats).flatten(2).softmax(dim=-1)  # (N, heads, HW): where each head looks
        value = torch.cat([feats, x], dim=1).flatten(2)  # (N, C, HW)
        return self.out(torch.einsum("nks,ncs->nkc", attn, value).flatten(1))


class FrameDecoder(nn.Module):
    """Draws a frame from its latent: a background, then each object slot over it (painter's order).

    The latent is laid out as the world's frames are described (SCENE_LAYOUT): a background part and
    SLOTS object parts. Every pixel of a slot runs one small MLP on the slot's vector and the pixel's
    offset from the slot's centre in units of the slot's size, also turned into the shape's own frame by
    the slot's angle (Invariant Slot Attention's relative coordinates, Biza et al. 2023). The MLP gives a
    correction to the signed distance of the shape the slot names (`shape_distance`), in slot sizes, and a
    change to the slot's colour; it starts at zero, so a new decoder draws the world's shapes. The distance
    is scaled to pixels before it becomes coverage, as the renderer does: edges are one pixel wide at
    every size. Earlier drafts gave coverage directly (they drew discs: a sharp square edge needs large
    weights at every scale), worked on absolute coordinates (ellipses), and had the MLP give the whole
    distance (rounded corners: triangles read as squares).
    """

    def __init__(self, spec: VAESpec):
        super().__init__()
        self.hidden = hidden = 4 * spec.base_channels
        self.background = nn.Sequential(nn.Linear(BACKGROUND + PIXEL_COORDS, hidden), nn.SiLU(), nn.Linear(hidden, 3))
        self.marks = nn.Sequential(nn.Linear(BACKGROUND + 2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                   nn.Linear(hidden, 4))
        self.slot = nn.Sequential(nn.Linear(SLOT + SLOT_COORDS, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                  nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 4))
        nn.init.zeros_(self.slot[-1].weight)
        nn.init.zeros_(self.slot[-1].bias)

    def forward(self, z: Tensor, height: int, width: int) -> Tensor:  # (N, z) -> (N, 3, H, W)
        n = z.shape[0]
        where = rearrange(coordinates(height, width, z.device, z.dtype, ())[:PIXEL_COORDS], "c h w -> 1 (h w) c")
        parts = z.split([BACKGROUND] + [SLOT] * SLOTS, dim=1)
        image = self.background(torch.cat([parts[0][:, None].expand(-1, where.shape[1], -1),
                                           where.expand(n, -1, -1)], dim=-1))  # (N, HW, 3)
        short = min(height, width)
        image = self._marks(image, parts[0], where, height, width)
        for part in parts[1:]:
            pixels = ((part[:, CENTRE + 2] + 1) / 4 * short).clamp_min(0.5)  # slot size in pixels
            offset = torch.cat([(where[..., :1] - part[:, None, CENTRE, None]) * width / 2,
                                (where[..., 1:2] - part[:, None, CENTRE + 1, None]) * height / 2],
                               dim=-1) / pixels[:, None, None]
            near = (offset.abs().amax(-1) < (SLOT_REACH + 2 / pixels)[:, None]) & (part[:, PRESENT, None] > SHOWN)
            n, p = near.nonzero(as_tuple=True)
            rows, at = part[n], offset[n, p]
            out = self.slot(torch.cat([rows, at, turned(at, rows, 3), turned(at, rows, 4)], dim=-1))
            edge = shape_distance(at, rows) + out[:, :1]
            cover = torch.sigmoid(-EDGE * edge * pixels[n, None]) * torch.sigmoid(8 * rows[:, PRESENT, None])
            image = image.index_put((n, p), _over(image[n, p], rows[:, COLOUR:COLOUR + 3] + out[:, 1:], cover))
        return rearrange(image, "n (h w) c -> n c h w", h=height)

    def _marks(self, image: Tensor, background: Tensor, where: Tensor, height: int, width: int) -> Tensor:
        """The camera's marks over the background: every pixel's offset from its nearest lattice point, in the
        lattice's spacings, gives a signed distance and a change of colour (as a slot's offset gives its shape)."""
        pixels = (background[:, SPACING].exp() * min(height, width)).clamp_min(0.5)  # spacing on screen
        phase = torch.stack([torch.atan2(background[:, PHASE + 1], background[:, PHASE]),
                             torch.atan2(background[:, PHASE + 3], background[:, PHASE + 2])], dim=-1)[:, None]
        lattice = (phase / (2 * math.pi)
                   + where[..., :2] * torch.tensor([width / 2, height / 2]).to(where) / pixels[:, None, None])
        offset = lattice - torch.round(lattice)
        near = (offset.abs().amax(-1) < (MARK_REACH + 2 / pixels)[:, None]) & (background[:, MARKS, None] > SHOWN)
        n, p = near.nonzero(as_tuple=True)
        rows = background[n]
        out = self.marks(torch.cat([rows, offset[n, p]], dim=-1))
        cover = torch.sigmoid(-EDGE * out[:, :1] * pixels[n, None]) * torch.sigmoid(8 * rows[:, MARKS, None])
        under = image[n, p]
        return image.index_put((n, p), _over(under, under + out[:, 1:], cover))


def shape_distance(offset: Tensor, part: Tensor) -> Tensor:
    """(P, 1): the signed distance, in slot sizes, of pixels at `offset` (P, 2; in slot sizes from the centre) to the
    shape their slots `part` (P, SLOT) say, as the world draws its three shapes (a disc, a square, a triangle point
    up, each `size` across); a slot between shapes gets the mix its shape channels say (SHAPE_SHARPNESS).

    The slot MLP adds its own correction to this. On its own it rounded every corner (a max() of edges is what a
    small MLP of SiLUs draws worst): the checker on decoded true latents of 40 held-out scenes judged shape 0.60
    (the true clips 0.88), most triangles read as squares."""
    circle = offset.square().sum(-1).add(1e-12).sqrt() - 0.5
    square = turned(offset, part, 4).abs().amax(-1) - 0.5
    qx, qy = turned(offset, part, 3).unbind(-1)
    # the triangle's slanted edges have outward normal (2, -1) / sqrt(5) from its apex, its base is at qy = 0.5
    triangle = torch.maximum((2 * qx.abs() - qy - 0.5) / math.sqrt(5.0), qy - 0.5)
    mix = torch.softmax(SHAPE_SHARPNESS * part[:, SHAPE:SHAPE + 3], dim=-1)
    return (mix * torch.stack([circle, square, triangle], dim=-1)).sum(-1, keepdim=True)


def continue_tracks(latents: Tensor, joined: Tensor, ramp: int = JOIN_RAMP) -> Tensor:
    """Latents (B, z, T, 1, 1) whose TRACKS take no step at a join larger than the model's own next one.

    The DiT places the first new frame roughly where the given one left off (v13, animate: 4.1x the typical frame
    change at the join on 12 held-out scenes), then moves on smoothly. So the first new frame's step, less the step
    after it, is taken off it and dissolved over `ramp` frames: the new frames keep their own motion and join the
    given frame as if they had started from it (4.1x to 2.8x on the same sampled latents). Joins at either end:
    given frames `joined` (T,) first (animate, extend) or last (a loop's end, a bridge)."""
    out = latents.clone()
    tracks = TRACKS.to(latents.device)
    total = latents.shape[2]
    weights = 1.0 - torch.arange(ramp, dtype=latents.dtype, device=latents.device) / ramp
    joined = joined.to(latents.device)
    for flip in (False, True):  # given frames at the start, then (time reversed) at the end
        z, known = (out.flip(2), joined.flip(0)) if flip else (out, joined)
        n = int(known.long().cumprod(0).sum())  # given frames the window starts with
        if n == 0 or n + 2 > total:
            continue
        t = z[:, tracks]
        excess = (t[:, :, n] - t[:, :, n - 1]) - (t[:, :, n + 1] - t[:, :, n])
        span = min(ramp, total - n)
        t[:, :, n:n + span] -= excess[:, :, None] * weights[:span].view(1, 1, -1, 1, 1)
        z[:, tracks] = t
        out = z.flip(2) if flip else z
    return out


def smooth_tracks(latents: Tensor, new: Tensor, passes: int) -> Tensor:
    """Latents (B, z, T, 1, 1) whose TRACKS are low-passed over time, `passes` times by [1, 2, 1] / 4, at each frame
    that is new (`new`, (T,)) and has new frames either side: the given frames stay as given, and the first new
    frame after them is left to continue_tracks (a join) or to jump (a cut)."""
    if passes <= 0 or latents.shape[2] < 3:
        return latents
    out = latents.clone()
    tracks = TRACKS.to(latents.device)
    new = new.to(latents.device)
    inner = torch.zeros_like(new)
    inner[1:-1] = new[:-2] & new[1:-1] & new[2:]
    inner = inner.view(1, 1, -1, 1, 1)
    t = out[:, tracks]
    for _ in range(passes):
        low = t.clone()
        low[:, :, 1:-1] = 0.25 * t[:, :, :-2] + 0.5 * t[:, :, 1:-1] + 0.25 * t[:, :, 2:]
        t = torch.where(inner, low, t)
    out[:, tracks] = t
    return out


# What tells a slot's object from another at a glance: its present flag, colour and shape.
LOOKS = [PRESENT, COLOUR, COLOUR + 1, COLOUR + 2, SHAPE, SHAPE + 1, SHAPE + 2]


def slot_swaps(given: Tensor, expected: Tensor) -> Tensor:
    """Raw latents of given frames (B, z, T, 1, 1) and of the clip the prompt describes (B, z, T', 1, 1) -> (B, T)
    bool: the given frames whose two slots hold the prompt's objects the other way round.

    The encoder reads a frame's objects into its slots in an order of its own (on 40 two-object world clips, against
    the caption's order in 17, and changing within the clip in 4), while the DiT's slots follow the caption: given
    frames in the other order ask it to continue a blue square in the slot its prompt gives a red ball. Each frame
    takes the order whose slots look most like the expected clip's (present, colour, shape, over its frames), plus
    how far its centres and sizes move from the frame before as ordered, which decides where the looks do not
    (two objects alike)."""
    assert SLOTS == 2, "slot_swaps orders two slots"
    b, _, t = given.shape[:3]
    looks = [[BACKGROUND + SLOT * k + i for i in LOOKS] for k in range(SLOTS)]
    where = [[BACKGROUND + SLOT * k + i for i in (CENTRE, CENTRE + 1, CENTRE + 2)] for k in range(SLOTS)]
    g = given[..., 0, 0]  # (B, z, T)
    want = expected[..., 0, 0].mean(dim=2)  # (B, z)
    swaps = torch.zeros(b, t, dtype=torch.bool, device=given.device)
    before = None  # (B, 2 slots, 3): the previous frame's centres and sizes, ordered
    for f in range(t):
        costs = []
        for order in ((0, 1), (1, 0)):
            cost = sum((g[:, looks[k], f] - want[:, looks[j]]).square().sum(1) for j, k in enumerate(order))
            now = torch.stack([g[:, where[k], f] for k in order], dim=1)
            if before is not None:
                cost = cost + (now - before).square().sum((1, 2))
            costs.append((cost, now))
        swaps[:, f] = costs[1][0] < costs[0][0]
        before = torch.where(swaps[:, f, None, None], costs[1][1], costs[0][1])
    return swaps


def snap(z: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Raw latents (N, SCENE_LAYOUT) put on the values the world's latents take: flags and shapes at +-1 (one shape
    a slot), angles' and phases' cos and sin on the unit circle, and an absent slot -1 then zeros. The DiT trained
    only on such latents; an encoder's in-between values (a slot half present, with guesses in its other channels)
    made it start a scene of its own next to the frames it was given (animate's seam 24x the typical change, 4.7x
    snapped). With the frames' `size` (height, width), a frame without marks also gets its still lattice."""
    z = z.clone()
    z[:, [BW, MARKS]] = torch.where(z[:, [BW, MARKS]] > 0, 1.0, -1.0)
    _to_circle(z, (PHASE, PHASE + 2))
    if size is not None:
        still = z[:, MARKS] < 0
        z[still, SPACING:PHASE + 4] = still_lattice(size[1], size[0]).to(z)
    for k in range(SLOTS):
        part = z[:, BACKGROUND + SLOT * k:BACKGROUND + SLOT * (k + 1)]  # a view: writes go to z
        shown = part[:, PRESENT] > 0
        shape = part[:, SHAPE:SHAPE + 3]
        part[:, SHAPE:SHAPE + 3] = torch.where(shape == shape.max(dim=1, keepdim=True).values, 1.0, -1.0)
        _to_circle(part, (ANGLES, ANGLES + 2))
        part[:, PRESENT] = torch.where(shown, 1.0, -1.0)
        part[:, 1:] = part[:, 1:] * shown[:, None]
    return z


def _to_circle(z: Tensor, starts: tuple[int, ...]) -> None:
    """In place: each (cos, sin) pair of channels starting at `starts` scaled onto the unit circle."""
    for i in starts:
        z[:, i:i + 2] = z[:, i:i + 2] / z[:, i:i + 2].norm(dim=1, keepdim=True).clamp_min(1e-6)


def _at_most(frames: Tensor, area: int) -> Tensor:
    """(N, C, H, W) frames scaled down (by area averaging) to at most `area` pixels, keeping their aspect."""
    h, w = frames.shape[-2:]
    if h * w <= area:
        return frames
    scale = math.sqrt(area / (h * w))
    return F.interpolate(frames, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")


def _over(under: Tensor, colour: Tensor, cover: Tensor) -> Tensor:
    return under * (1 - cover) + colour * cover


def turned(offset: Tensor, part: Tensor, fold: int) -> Tensor:
    """Offsets (..., 2) in the frame of slots (..., SLOT) whose angle has `fold`-fold symmetry, as the renderer turns
    them: the angle is read from its cos and sin of `fold` times it, so it is known up to that symmetry."""
    k = ANGLES + 2 * (fold - 3)
    angle = (torch.atan2(part[..., k + 1], part[..., k]) / fold)[..., None]
    c, s = torch.cos(angle), torch.sin(angle)
    dx, dy = offset[..., :1], offset[..., 1:]
    return torch.cat([c * dx + s * dy, c * dy - s * dx], dim=-1)


class FrameLatents(NormalisedLatents):
    """(B, 3, T, H, W) <-> (B, z, T, 1, 1): one latent vector a frame, at any size."""

    def __init__(self, spec: VAESpec):
        super().__init__()
        if spec.latent_channels != SCENE_LAYOUT:
            raise ValueError(f"frame latents have {SCENE_LAYOUT} channels (the scene layout), "
                             f"not {spec.latent_channels}")
        self.spec = spec
        self.temporal_factor = 1
        self.encoder = FrameEncoder(spec)
        self.decoder = FrameDecoder(spec)
        self.register_buffer("latent_mean", torch.zeros(spec.latent_channels))
        self.register_buffer("latent_std", torch.ones(spec.latent_channels))

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw latents (B, z, T, 1, 1) as the DiT sees them: at unit scale, and the lattice as its offset.

        A pan turns the lattice's phase steadily (0.052 of a cycle a frame at the world's speed), and as cos and
        sin that is a wave the DiT never drew: v13's phases flipped between two values. Unwrapped over the clip,
        the offset (in lattice spacings, along x and y) is a straight line, as an object's track is, and a still
        camera's a constant. It is unwrapped from the clip's first frame, which at inference is the first given
        frame; the layout's other two phase channels are zero for the DiT."""
        z = super().normalise(raw)
        turns = torch.atan2(raw[:, [PHASE + 1, PHASE + 3]], raw[:, [PHASE, PHASE + 2]]) / (2 * math.pi)
        steps = turns.diff(dim=2)
        steps = steps - torch.round(steps)  # a frame's change is the shortest way round
        z[:, PHASE:PHASE + 2] = torch.cat([turns[:, :, :1], turns[:, :, :1] + steps.cumsum(dim=2)], dim=2)
        z[:, PHASE + 2:PHASE + 4] = 0
        return z

    def denormalise(self, latents: Tensor) -> Tensor:
        """normalise's inverse: the lattice's offsets back to the cos and sin of its phases."""
        raw = super().denormalise(latents)
        angle = 2 * math.pi * latents[:, PHASE:PHASE + 2]
        raw[:, [PHASE, PHASE + 2]], raw[:, [PHASE + 1, PHASE + 3]] = torch.cos(angle), torch.sin(angle)
        return raw

    def encode_moments(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, T, H, W) -> the frames' scene latents (B, z, T, 1, 1), and zero log-variance (deterministic)."""
        b = video.shape[0]
        mean = rearrange(self.encoder(_at_most(rearrange(video, "b c t h w -> (b t) c h w"), READ_AREA)),
                         "(b t) c -> b c t 1 1", b=b)
        return mean, torch.zeros_like(mean)

    def encode(self, video: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> normalised latents that draw these frames: the encoder's, refined (refine_steps)."""
        return self.normalise(self.refine(self.encode_moments(video)[0], video))

    def settle(self, latents: Tensor, strength: Tensor, joined: Tensor) -> Tensor:
        """The STEADY channels the same in every frame of the window: the given frames' (strength 1) where any
        are given, so a continuation keeps what it continues; else the window's median, what most frames say.
        Then the tracks continue the frames the window joins (`continue_tracks`), and the new frames' tracks are
        smoothed over time as the spec says (`smooth_tracks`)."""
        out = latents.clone()
        given = strength >= 1
        steady = latents[:, STEADY]
        if bool(given.any()):
            held = steady[:, :, given.to(latents.device)].mean(dim=2, keepdim=True)
        else:
            held = steady.median(dim=2, keepdim=True).values
        out[:, STEADY] = held.expand_as(steady)
        return smooth_tracks(continue_tracks(out, joined), ~given, self.spec.track_smoothing)

    def order_given(self, latents: Tensor, given: Tensor, expected: Callable[[], Tensor]) -> Tensor:
        """The given frames' slots swapped where they hold the prompt's objects the other way round (slot_swaps)."""
        given = (given >= 1).to(latents.device)
        if not bool(given.any()):
            return latents
        raw = self.denormalise(latents[:, :, given])
        swap = slot_swaps(raw, self.denormalise(expected()))  # (B, T given)
        if not bool(swap.any()):
            return latents
        slots = torch.arange(BACKGROUND, SCENE_LAYOUT, device=latents.device)
        turned = torch.cat([slots[SLOT:], slots[:SLOT]])  # slot 1's channels, then slot 0's
        shift, scale = self._stats(raw)
        swapped = (raw[:, turned] - shift[:, slots]) / scale[:, slots]  # in the other slot's place and scale
        part = latents[:, :, given].clone()
        part[:, slots] = torch.where(swap[:, None, :, None, None], swapped, part[:, slots])
        out = latents.clone()
        out[:, :, given] = part
        return out

    def refine(self, z: Tensor, video: Tensor) -> Tensor:
        """Raw latents (B, z, T, 1, 1) moved by gradient steps on how far the decoder's frames are from `video`.

        The encoder is a quick guess that can miss a shape or a centre by a few pixels; the decoder is what
        the joins of animate, extend and loop show next to the given frames, so the latents that matter are
        the ones it draws them from. Fitted at most READ_AREA pixels a frame (one latent draws any size)."""
        if not self.spec.refine_steps:
            return z
        b = video.shape[0]
        frames = _at_most(rearrange(video.float(), "b c t h w -> (b t) c h w"), READ_AREA)
        h, w = frames.shape[-2:]
        size = tuple(video.shape[-2:])  # the lattice's phase is in fractions of the frame as given
        moves = (~DISCRETE).to(frames.device)
        with torch.enable_grad():
            guess = snap(rearrange(z.float(), "b c t 1 1 -> (b t) c"), size).detach().requires_grad_(True)
            opt = torch.optim.Adam([guess], lr=REFINE_LR)
            for _ in range(self.spec.refine_steps):
                err = self.decoder(guess, h, w) - frames
                loss = (err.abs() + err.square()).mean()
                opt.zero_grad()
                loss.backward()
                guess.grad *= moves  # what the snap decided stays decided
                opt.step()
        return rearrange(snap(guess.detach(), size), "(b t) c -> b c t 1 1", b=b).to(z.dtype)

    def decode_raw(self, z: Tensor, chunk: int | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """(B, z, T, 1, 1) -> (B, 3, T, H, W) at `size` (height, width), `chunk` latent frames at a time."""
        if size is None:
            raise ValueError("frame latents need the size to draw them at")
        b = z.shape[0]
        # by default as many frames at once as keep the widest activation (the background MLP's, the one layer that
        # runs at every pixel) near 16M values
        chunk = chunk or max(1, (1 << 24) // (size[0] * size[1] * self.decoder.hidden * b))
        parts = [self.decoder(rearrange(z[:, :, i:i + chunk], "b c t 1 1 -> (b t) c"), *size)
                 for i in range(0, z.shape[2], chunk)]
        return torch.cat([rearrange(p, "(b t) c h w -> b c t h w", b=b) for p in parts], dim=2)
