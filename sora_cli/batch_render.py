"""Rendering batch items, the same way wherever they run: in this process or on a Ray worker.

An ItemRenderer keeps the last model it loaded, so a worker loads each model once and
renders many items with it. Every item goes through the one path `sora generate` takes:
request -> job -> plan -> clip.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from sora_cli.clip import make_clip
from sora_cli.engine import Engine, Progress
from sora_cli.errors import SoraError
from sora_cli.models.interface import LoadedModel
from sora_cli.plan import plan_clip
from sora_cli.requests import Request, build_job
from sora_cli.runtime import resolve_device, resolve_dtype
from sora_cli.storyboard_clip import make_storyboard_clip, storyboard_job
from sora_cli.weights import find_model, load_model


@dataclass(frozen=True)
class Rendered:
    index: int
    status: str  # "done" or "failed"
    error: str | None = None
    warnings: tuple[str, ...] = ()
    clip: bytes | None = None  # the encoded clip and its sidecar, when made away from the out-dir
    sidecar: str | None = None


class ItemRenderer:
    def __init__(self, device: str, dtype: str):
        self.device, self.dtype = device, dtype
        self.loaded: LoadedModel | None = None

    def model(self, name: str) -> LoadedModel:
        if self.loaded is None or self.loaded.source != find_model(name):
            dev = resolve_device(self.device)
            self.loaded = load_model(name, dev, resolve_dtype(self.dtype, dev))
        return self.loaded

    def render(self, index: int, request: Request, extra: dict, progress: Progress | None = None) -> Rendered:
        """Render into the request's own output path; a bad item is a failed result, not an exception."""
        try:
            if request.storyboard:
                board, base, output = storyboard_job(request)
                model = self.model(base.model)
                result = make_storyboard_clip(board, Path(request.storyboard), base, output, model,
                                              Engine(model, progress), extra=extra)
                warnings = tuple(f"shot {r['shot']}: {w}" for r in result["shots"] for w in r["warnings"])
            else:
                job, output = build_job(request)
                model = self.model(job.model)
                plan = plan_clip(job, model)
                make_clip(plan, output, Engine(model, progress), extra)
                warnings = plan.warnings
        except SoraError as exc:
            return Rendered(index, "failed", str(exc))
        return Rendered(index, "done", warnings=tuple(warnings))

    def render_to_bytes(self, index: int, request: Request, extra: dict) -> Rendered:
        """Render into a private temp folder and return the files' contents (a worker whose disk
        is not the driver's). Input files must be readable here: shared storage or the same machine."""
        folder = Path(tempfile.mkdtemp(prefix="sora-worker-"))
        try:
            out = folder / ("clip" + Path(request.output).suffix)
            done = self.render(index, replace(request, output=str(out), overwrite=True), extra)
            if done.status != "done":
                return done
            return replace(done, clip=out.read_bytes(), sidecar=out.with_suffix(".json").read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class RayWorker:
    """A Ray actor: one per worker, holding its ItemRenderer (and so its model) across items."""

    def __init__(self, device: str, dtype: str, threads: int):
        # Ray gives each worker OMP_NUM_THREADS=1; torch's thread count is part of what makes
        # a float sum come out bit for bit the same, so it is set explicitly.
        torch.set_num_threads(threads)
        self.renderer = ItemRenderer(device, dtype)

    def render(self, index: int, request: Request, extra: dict) -> Rendered:
        return self.renderer.render_to_bytes(index, request, extra)
