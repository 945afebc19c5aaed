"""The flow-matching sampler against its closed forms."""

from dataclasses import replace

import pytest
import torch

from sora_cli.errors import GenerationFailed
from sora_cli.sampler import focus_mask, guided, sample, schedule, shift_time, unshift_time
from sora_cli.specs import SORA_MINI


def test_schedule_runs_from_start_to_zero_and_shifts_toward_noise():
    ts = schedule(10, shift=3.0)
    assert ts[0] == pytest.approx(1.0) and ts[-1] == 0.0 and len(ts) == 11
    assert torch.all(ts[1:] < ts[:-1])
    assert ts[5] > 0.5  # shift > 1 spends more of the steps at high noise
    assert torch.allclose(schedule(10, 1.0), torch.linspace(1, 0, 11))


def test_partial_schedule_starts_at_strength_and_uses_its_share_of_steps():
    ts = schedule(20, shift=3.0, start=0.6)
    assert ts[0] == pytest.approx(0.6, abs=1e-6)
    assert len(ts) - 1 == pytest.approx(20 * unshift_time(0.6, 3.0), abs=1)
    assert shift_time(torch.tensor(unshift_time(0.3, 2.0)), 2.0).item() == pytest.approx(0.3)


def test_point_mass_is_reached_exactly_in_any_number_of_steps():
    x0 = torch.randn(1, 2, 3, 4, 5)
    velocity = lambda x, t: (x - x0) / t.view(1, 1, -1, 1, 1).clamp_min(1e-12)  # noqa: E731
    for steps in (1, 3, 17):
        out = sample(velocity, torch.randn_like(x0), torch.zeros_like(x0), torch.zeros(3), schedule(steps, 3.0))
        assert torch.allclose(out, x0, atol=1e-5)


def test_gaussian_data_maps_noise_to_mu_plus_sigma_z():
    mu, sigma = 2.0, 0.5

    def velocity(x, t):  # E[noise - x0 | x_t] for x0 ~ N(mu, sigma^2)
        t = t.view(1, 1, -1, 1, 1)
        var = (1 - t) ** 2 * sigma**2 + t**2
        centred = x - (1 - t) * mu
        return t / var * centred - (mu + (1 - t) * sigma**2 / var * centred)

    z = torch.randn(1, 1, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    errors = []
    for steps in (200, 800):
        out = sample(velocity, z, torch.zeros_like(z), torch.zeros(2, dtype=torch.float64),
                     schedule(steps, 1.0).double())
        errors.append((out - (mu + sigma * z)).abs().max().item())
    assert errors[1] < 5e-3
    assert errors[1] < errors[0] / 3  # Euler converges at first order


def test_frames_at_strength_one_are_kept_exactly_and_seen_at_t_zero():
    given = torch.randn(1, 2, 4, 3, 3)
    seen = []

    def velocity(x, t):
        seen.append(t.clone())
        return torch.randn_like(x)

    strength = torch.tensor([1.0, 0.0, 0.0, 1.0])
    out = sample(velocity, torch.randn_like(given), given, strength, schedule(5, 3.0))
    assert torch.equal(out[:, :, 0], given[:, :, 0]) and torch.equal(out[:, :, 3], given[:, :, 3])
    assert not torch.allclose(out[:, :, 1], given[:, :, 1])
    assert all(float(t[0, 0]) == 0.0 and float(t[0, 1]) > 0 for t in seen[:-1])


def test_guidance_combines_conditional_and_unconditional_passes():
    def model(x, t, ctx, mask):  # velocity = the mean of the unmasked context, per batch row
        m = mask[..., None].float()
        mean = (ctx * m).sum(dim=(1, 2)) / (m.sum(dim=(1, 2)) * ctx.shape[2])
        return x * 0 + mean.view(-1, 1, 1, 1, 1)

    cond = (torch.full((1, 2, 4), 3.0), torch.ones(1, 2, dtype=torch.bool))
    uncond = (torch.full((1, 3, 4), 1.0), torch.ones(1, 3, dtype=torch.bool))
    v = guided(model, cond, uncond, 4.0)(torch.zeros(1, 1, 1, 1, 1), torch.ones(1, 1))
    assert v.item() == pytest.approx(1.0 + 4.0 * (3.0 - 1.0))


def test_guidance_applies_only_inside_its_interval_and_skips_the_unconditional_pass_outside():
    batches = []

    def model(x, t, ctx, mask):  # conditional rows say 3, unconditional rows say 1
        batches.append(x.shape[0])
        return x * 0 + ctx[:, :1, :1].view(-1, 1, 1, 1, 1)

    cond = (torch.full((1, 1, 1), 3.0), torch.ones(1, 1, dtype=torch.bool))
    uncond = (torch.full((1, 1, 1), 1.0), torch.ones(1, 1, dtype=torch.bool))
    v = guided(model, cond, uncond, 4.0, interval=(0.0, 0.7))
    x = torch.zeros(1, 1, 2, 1, 1)
    # A window's time is its noisiest frame's: a given frame at t = 0 does not pull it inside.
    assert v(x, torch.tensor([[0.0, 0.9]]))[0, 0, 1].item() == pytest.approx(3.0)
    assert v(x, torch.tensor([[0.0, 0.5]]))[0, 0, 1].item() == pytest.approx(1.0 + 4.0 * 2.0)
    assert batches == [1, 2]


def test_focus_keeps_the_tokens_the_prompt_pulls_hardest_in_each_frame():
    pull = torch.zeros(1, 2, 2, 4, 6)  # (B, C, T, H, W): tokens of 2x2 cells, a 2x3 token grid a frame
    pull[:, :, 0, 0:2, 0:2] = 2.0  # frame 0: token (0, 0) pulls 4 (mean square)
    pull[:, :, 0, 2:4, 4:6] = 1.0  # and token (1, 2) pulls 1
    pull[:, :, 1, 2, 3] = 0.1  # frame 1: one cell of token (1, 1) pulls 0.01, a quarter of that on its token
    strict = focus_mask(pull, 0.5, (2, 2))
    assert strict.shape == (1, 1, 2, 4, 6)
    assert strict[0, 0, 0].sum() == 4 and strict[0, 0, 0, 0:2, 0:2].all()  # only the strongest token, whole
    assert strict[0, 0, 1].sum() == 4 and strict[0, 0, 1, 2:4, 2:4].all()  # each frame against its own largest
    loose = focus_mask(pull, 0.2, (2, 2))
    assert loose[0, 0, 0].sum() == 8 and loose[0, 0, 0, 2:4, 4:6].all()
    assert focus_mask(pull, 0.0, (2, 2)).all()


def test_focused_guidance_guides_only_the_kept_tokens_and_gives_the_rest_the_conditional_velocity():
    def model(x, t, ctx, mask):  # conditional rows: 3 on the left half and 1.5 on the right; unconditional: 1
        out = x * 0 + ctx[:, :1, :1].view(-1, 1, 1, 1, 1)
        out[0, ..., 2:] = 1.5
        return out

    cond = (torch.full((1, 1, 1), 3.0), torch.ones(1, 1, dtype=torch.bool))
    uncond = (torch.full((1, 1, 1), 1.0), torch.ones(1, 1, dtype=torch.bool))
    x, t = torch.zeros(1, 1, 1, 2, 4), torch.ones(1, 1)
    plain = guided(model, cond, uncond, 4.0)(x, t)
    assert torch.allclose(guided(model, cond, uncond, 4.0, focus=0.0, token=(2, 2))(x, t), plain)
    v = guided(model, cond, uncond, 4.0, focus=0.5, token=(2, 2))(x, t)
    assert torch.allclose(v[..., :2], torch.tensor(1.0 + 4.0 * 2.0))  # pulled by 2: guided
    assert torch.allclose(v[..., 2:], torch.tensor(1.5))  # pulled by 0.5, under half the largest: conditional
    with pytest.raises(ValueError, match="guidance_focus"):
        replace(SORA_MINI, guidance_focus=1.5)


def test_non_finite_values_are_reported_not_returned():
    velocity = lambda x, t: x * float("nan")  # noqa: E731
    with pytest.raises(GenerationFailed, match="NaN"):
        sample(velocity, torch.randn(1, 1, 1, 2, 2), torch.zeros(1, 1, 1, 2, 2), torch.zeros(1), schedule(3, 3.0))
