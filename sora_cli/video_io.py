"""Reading images and videos, and writing clips atomically with their metadata.

ffmpeg (from imageio-ffmpeg) does all decoding and encoding. Writes go to a hidden
temp file beside the target and are renamed into place, so a failure or Ctrl-C never
leaves a half-written file and an existing file is only replaced with `overwrite`.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from torch import Tensor

from sora_cli.errors import BadInput, GenerationFailed
from sora_cli.frames import cover_geometry

FORMATS = {".mp4", ".gif", ".webm"}


@dataclass(frozen=True)
class Video:
    frames: Tensor  # (T, H, W, 3) uint8
    fps: float


def ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def read_video(path: Path, what: str = "video") -> Video:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what} not found: {path}")
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = reader.__next__()
        w, h = meta["size"]
        frames = [np.frombuffer(buf, np.uint8).reshape(h, w, 3) for buf in reader]
    except (RuntimeError, OSError, KeyError, ValueError, StopIteration) as exc:
        raise BadInput(f"cannot read {what} {path}: not a readable {what} ({_first_line(exc)})") from None
    if not frames:
        raise BadInput(f"cannot read {what} {path}: it has no frames")
    fps = float(meta.get("fps") or 24.0)
    return Video(torch.from_numpy(np.stack(frames)), fps)


def read_image(path: Path) -> Tensor:
    """An image as a one-frame (1, H, W, 3) uint8 video."""
    return read_video(path, "image").frames[:1]


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:160] if lines else type(exc).__name__


def check_output(path: Path, overwrite: bool) -> None:
    """Fail before any work when the output cannot be written."""
    if path.suffix.lower() not in FORMATS:
        raise BadInput(f"unsupported output format '{path.suffix}' (use {', '.join(sorted(FORMATS))})")
    for target in (path, path.with_suffix(".json")):
        if target.exists() and not overwrite:
            raise BadInput(f"output exists: {target} (use --overwrite to replace it)")
    if not path.parent.is_dir():
        raise BadInput(f"output folder does not exist: {path.parent}")


def _codec_args(suffix: str, metadata: str, draft: bool = False) -> list[str]:
    # A draft (a preview) is looked at once: encoder speed matters more than file size there.
    # x264 ultrafast is ~5x faster than fast at the same CRF, for files ~1.8x bigger.
    meta = ["-metadata", f"comment={metadata}"]
    if suffix == ".mp4":
        return ["-c:v", "libx264", "-preset", "ultrafast" if draft else "fast", "-crf", "18", "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", *meta, "-f", "mp4"]
    if suffix == ".webm":
        speed = ["-deadline", "realtime", "-cpu-used", "8"] if draft else []
        return ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "32", *speed, "-pix_fmt", "yuv420p", *meta, "-f", "webm"]
    return [*meta, "-f", "gif"]


def _filters(suffix: str, frame_size: tuple[int, int], size: tuple[int, int]) -> list[str]:
    chain = []
    if frame_size != size:
        new_w, new_h, left, top = cover_geometry(*frame_size, *size)
        chain.append(f"scale={new_w}:{new_h}:flags=bicubic,crop={size[0]}:{size[1]}:{left}:{top}")
    if suffix == ".gif":  # a palette made for this clip, not a fixed 256 colours
        chain.append("split[a][b];[a]palettegen[p];[b][p]paletteuse")
    return ["-vf", ",".join(chain)] if chain else []


def write_video(path: Path, frames: Iterable[Tensor], frame_size: tuple[int, int], size: tuple[int, int],
                fps: float, metadata: dict, overwrite: bool = False, draft: bool = False) -> None:
    """Stream uint8 (H, W, 3) frames of `frame_size` into `path` atomically, at `size`
    (scaled to cover and centre-cropped by ffmpeg when the two differ), with metadata
    in the container and a .json sidecar. `draft` trades file size for encoding speed."""
    path = Path(path)
    check_output(path, overwrite)
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    sidecar = path.with_suffix(".json")
    try:
        suffix = path.suffix.lower()
        _encode(tmp, frames, frame_size, fps, _filters(suffix, frame_size, size) + _codec_args(suffix, text, draft))
        _commit(tmp, path, overwrite)
        _write_text_atomic(sidecar, json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise GenerationFailed(f"disk full while writing {path}") from None
        raise GenerationFailed(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _encode(tmp: Path, frames: Iterable[Tensor], frame_size: tuple[int, int], fps: float,
            args: list[str]) -> None:
    cmd = [ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{frame_size[0]}x{frame_size[1]}", "-r", f"{fps:g}", "-i", "-", *args, str(tmp)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for frame in frames:
            proc.stdin.write(frame.contiguous().numpy().tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        if "No space left" in err:
            raise OSError(errno.ENOSPC, "No space left on device")
        raise GenerationFailed(f"ffmpeg failed to encode {tmp.suffix}: {err.strip().splitlines()[-1:] or 'unknown error'}")


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if something appeared at `path` meanwhile: never clobber
    except FileExistsError:
        raise BadInput(f"output exists: {path} (use --overwrite to replace it)") from None


def read_metadata(path: Path) -> dict:
    """The JSON a clip carries: from its container, else from its .json sidecar."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"file not found: {path}")
    proc = subprocess.run([ffmpeg(), "-loglevel", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("comment="):
            try:
                return json.loads(line[len("comment="):].replace("\\=", "=").replace("\\;", ";")
                                  .replace("\\#", "#").replace("\\\\", "\\"))
            except json.JSONDecodeError:
                break
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        return json.loads(sidecar.read_text())
    raise BadInput(f"{path} carries no sora metadata")
