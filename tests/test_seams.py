"""The join between given frames and new ones: no jump, and no lasting change."""

from __future__ import annotations

import torch

from sora_cli.conditioning import Condition
from sora_cli.seams import fade_in_joins


def _window(total: int = 17) -> torch.Tensor:
    """A picture that brightens a little each frame: small frame-to-frame changes."""
    torch.manual_seed(0)
    return torch.rand(1, 3, 8, 12) * 0.5 - 0.25 + 0.01 * torch.arange(total).view(-1, 1, 1, 1)


def test_new_frames_after_given_ones_start_from_the_given_frame_and_fade_to_the_model():
    video = _window()
    given = video[:5] + 0.3  # the reconstruction missed the given frames by 0.3
    out = fade_in_joins(video, [Condition(given, 0)], ramp=4)
    jump_before = (video[5] - given[-1]).abs().mean()
    jump_after = (out[5] - given[-1]).abs().mean()
    assert jump_after < 0.25 * jump_before
    steps = [(out[i] - video[i]).mean().item() for i in range(5, 10)]
    assert all(a > b for a, b in zip(steps, steps[1:]))  # the correction fades
    assert torch.equal(out[9:], video[9:]) and torch.equal(out[:5], video[:5])


def test_new_frames_before_given_ones_lead_into_the_given_frame():
    video = _window()
    given = video[-5:] - 0.3
    out = fade_in_joins(video, [Condition(given, -2)], ramp=4)
    assert (out[11] - given[0]).abs().mean() < 0.25 * (video[11] - given[0]).abs().mean()
    assert torch.equal(out[:8], video[:8]) and torch.equal(out[12:], video[12:])


def test_soft_conditions_and_exact_reconstructions_change_nothing():
    video = _window()
    assert torch.equal(fade_in_joins(video, [Condition(video[:5] + 0.3, 0, strength=0.5)], ramp=4), video)
    assert torch.allclose(fade_in_joins(video, [Condition(video[:5].clone(), 0)], ramp=4), video)


def test_a_cut_is_not_faded_into_the_frames_after_it():
    video = _window()
    before = video[:5] + 0.3  # the shot before, which the cut sees as context
    assert torch.equal(fade_in_joins(video, [Condition(before, 0, joined=False)], ramp=4), video.clamp(-1, 1))
    assert not torch.equal(fade_in_joins(video, [Condition(before, 0)], ramp=4), video.clamp(-1, 1))
