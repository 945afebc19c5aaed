"""Previews: a fast, low-resolution draft with the same seed and composition as the full render.

All of a preview's rules live here:
- the file is written at a quarter of the output's each side (even), e.g. 480x270 for 1920x1080;
- the model works at half its full working size each side, on the full render's noise
  pooled 2x2 (engine.Engine._noise), so the draft shows the composition the full render will;
- the model's own preview step count (ModelSpec.preview_steps) unless --steps says otherwise;
- the encoder's draft preset (video_io), because a draft is looked at once.
"""

from __future__ import annotations


def preview_output_size(width: int, height: int) -> tuple[int, int]:
    return max(2, round(width / 4 / 2) * 2), max(2, round(height / 4 / 2) * 2)


def preview_working_size(full_width: int, full_height: int) -> tuple[int, int]:
    return full_width // 2, full_height // 2
