"""Options shared by the commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Prompt = Annotated[str, typer.Argument(help="What to see. '-' reads it from stdin.")]
Preset = Annotated[Optional[str], typer.Option("--preset", "-p", help="Aspect-ratio preset (see `sora presets`).")]
Width = Annotated[Optional[int], typer.Option(help="Output width in pixels (even, 64..2560).")]
Height = Annotated[Optional[int], typer.Option(help="Output height in pixels (even, 64..2560).")]
Fps = Annotated[Optional[float], typer.Option(help="Output frame rate.")]
Duration = Annotated[Optional[float], typer.Option("--duration", "-d", help="Seconds of video.")]
Frames = Annotated[Optional[int], typer.Option(help="Exact number of frames (instead of --duration).")]
Seconds = Annotated[Optional[float], typer.Option(help="Seconds of new video.")]
Seed = Annotated[Optional[int], typer.Option(help="Random seed; random when absent, always reported.")]
Steps = Annotated[Optional[int], typer.Option(help="Sampling steps (default: the model's).")]
Guidance = Annotated[Optional[float], typer.Option(help="Classifier-free guidance scale.")]
Negative = Annotated[Optional[str], typer.Option(help="Negative prompt: what to steer away from.")]
Model = Annotated[str, typer.Option("--model", "-m", help="Model name or model folder (see `sora models`).")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
Dtype = Annotated[str, typer.Option(help="auto (bf16 on GPUs, and on CPUs with native bf16 for models evaluated in it), "
                                          "float32, bfloat16 or float16.")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (.mp4, .gif or .webm).")]
Overwrite = Annotated[bool, typer.Option(help="Replace an existing output file.")]
Preview = Annotated[bool, typer.Option(help="Fast low-resolution draft with the same seed and composition.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No logs or progress on stderr.")]
