"""Reading images and videos, and writing clips atomically with their metadata.

ffmpeg (from imageio-ffmpeg) does all decoding and encoding. Writes go to a hidden
temp file beside the target and are renamed into place, so a failure or Ctrl-C never
leaves a half-written file and an existing file is only replaced with `overwrite`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from torch import Tensor

from sora_cli.errors import BadInput, GenerationFailed
from sora_cli.frames import cover_geometry

FORMATS = {".mp4", ".gif", ".webm"}


# Seconds at each end of an input video kept in memory: extend and loop read their context
# there; frames in between are streamed from the file when the output needs them.
KEPT_SECONDS = 4.0


class FileFrames:
    """A video file's frames at a constant rate, indexed like a (T, H, W, 3) uint8 tensor.

    One pass at open counts them and keeps the first and last KEPT_SECONDS; any other frame is
    decoded again from the file when asked for, reading forward (the output asks in order).
    Extending a 10-minute clip then holds a few seconds of it in memory, not all of it.
    """

    def __init__(self, path: Path, rate: float | None, head: Tensor, tail: Tensor, count: int):
        self.path, self.rate, self.head, self.tail, self.count = path, rate, head, tail, count
        self.shape = (count, *head.shape[1:])
        self._reader = None
        self._pos = 0  # index of the frame the reader yields next

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index) -> Tensor:
        if isinstance(index, slice):
            index = range(*index.indices(self.count))
        elif isinstance(index, int):
            return self[[index]][0]
        picks = [self._frame(int(i)) for i in index]
        return torch.stack(picks) if picks else self.head[:0]

    def _frame(self, i: int) -> Tensor:
        i = i + self.count if i < 0 else i
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} of {self.count}")
        if i < len(self.head):
            return self.head[i]
        if i >= self.count - len(self.tail):
            return self.tail[i - (self.count - len(self.tail))]
        if self._reader is None or i < self._pos:
            self._reader, self._pos = _frames_of(self.path, self.rate)[1], 0
        for frame in self._reader:
            self._pos += 1
            if self._pos - 1 == i:
                return frame
        raise GenerationFailed(f"{self.path} changed while it was read")


def _frames_of(path: Path, rate: float | None, max_frames: int | None = None) -> tuple[dict, Iterator[Tensor]]:
    """ffmpeg's metadata, and the (H, W, 3) uint8 frames of a file at a constant rate, decoded
    as they are consumed."""
    params = ["-vf", f"fps={rate:g}"] if rate else []
    if max_frames:
        params += ["-frames:v", str(max_frames)]
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=params)
    meta = reader.__next__()
    w, h = meta["size"]
    return meta, (torch.from_numpy(np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy()) for buf in reader)


@dataclass(frozen=True)
class Video:
    frames: Tensor | FileFrames  # (T, H, W, 3) uint8
    fps: float
    audio: bool = False  # the file had an audio track (clips are written without one)
    # The raw latents each frame was decoded from, when this model drew the frames in memory (a storyboard's shot
    # before): the model continues them as it drew them rather than as its encoder reads the frames back.
    latents: Tensor | None = None


def ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Probe:
    rate: float | None  # the stream's nominal frame rate (ffmpeg's tbr): constant, even for VFR input
    audio: bool  # the file carries an audio track


def probe(path: Path) -> Probe:
    """What ffmpeg says of a file's streams (its own summary on stderr; no ffprobe ships with imageio-ffmpeg)."""
    proc = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                          errors="replace")
    video = next((ln for ln in proc.stderr.splitlines() if "Video:" in ln), "")
    rate = re.search(r"([\d.]+)k? tbr", video)
    return Probe(float(rate.group(1)) if rate and float(rate.group(1)) > 0 else None,
                 any("Audio:" in ln for ln in proc.stderr.splitlines()))


def read_video(path: Path, what: str = "video", max_frames: int | None = None) -> Video:
    """Every frame at a constant rate: a variable-frame-rate file is resampled by its timestamps to
    its nominal rate, so its duration is kept (reading frames as they come plays VFR clips slow)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{what} not found: {path}")
    # An image needs no rate or audio track: one ffmpeg run fewer for each.
    info = probe(path) if what == "video" else Probe(None, False)
    head: list[Tensor] = []
    count = 0
    try:
        meta, frames = _frames_of(path, info.rate, max_frames)
        fps = float(info.rate or meta.get("fps") or 24.0)
        keep = max(1, round(KEPT_SECONDS * fps))
        tail: deque[Tensor] = deque(maxlen=keep)
        for frame in frames:
            if count < keep:
                head.append(frame)
            else:
                tail.append(frame)
            count += 1
    except (RuntimeError, OSError, KeyError, ValueError, StopIteration) as exc:
        raise BadInput(f"cannot read {what} {path}: not a readable {what} ({_first_line(exc)})") from None
    if not count:
        raise BadInput(f"cannot read {what} {path}: it has no frames")
    if count == len(head) + len(tail):  # all of it is in memory: a plain tensor
        return Video(torch.stack(head + list(tail)), fps, info.audio)
    return Video(FileFrames(path, info.rate, torch.stack(head), torch.stack(list(tail)), count), fps, info.audio)


def read_image(path: Path) -> tuple[Tensor, int]:
    """An image as a one-frame (1, H, W, 3) uint8 video, and how many frames the file had
    (an animated GIF has several: only its first is used)."""
    video = read_video(path, "image", max_frames=2)
    return video.frames[:1], video.frames.shape[0]


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1][:160] if lines else type(exc).__name__


def check_output(path: Path, overwrite: bool, folder_to_be_made: Path | None = None) -> None:
    """Fail before any work when the output cannot be written. `folder_to_be_made`: a folder the
    caller creates before writing (a batch's out-dir), so it need not exist yet."""
    if path.is_dir():
        raise BadInput(f"output is a directory: {path} (give a file name such as {path / 'clip.mp4'})")
    if path.suffix.lower() not in FORMATS:
        raise BadInput(f"unsupported output format '{path.suffix}' (use {', '.join(sorted(FORMATS))})")
    for target in (path, path.with_suffix(".json")):
        if target.is_dir():
            raise BadInput(f"output is a directory: {target}")
        if target.exists() and not overwrite:
            raise BadInput(f"output exists: {target} (use --overwrite to replace it)")
    parent = path.parent
    if not parent.is_dir() and not (folder_to_be_made is not None and is_within(parent, folder_to_be_made)):
        raise BadInput(f"output folder does not exist: {path.parent}")


def is_within(path: Path, folder: Path) -> bool:
    """`path` is `folder` or lies inside it, once both are resolved."""
    return path.resolve() == folder.resolve() or folder.resolve() in path.resolve().parents


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
    in the container and a .json sidecar. `draft` trades file size for encoding speed.

    Both files are written to hidden temp names first (the sidecar before the clip, as it
    is small), then published: a clip never appears without its sidecar, a failure names
    the file that failed, and an interrupt leaves neither temp file behind.
    """
    path = Path(path)
    check_output(path, overwrite)
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    suffix = path.suffix.lower()
    args = _filters(suffix, frame_size, size) + _codec_args(suffix, text, draft)
    _publish(path, overwrite, json.dumps(metadata, indent=2, sort_keys=True) + "\n",
             lambda tmp: _encode(tmp, frames, frame_size, fps, args))


def publish_clip(path: Path, clip: bytes, sidecar: str, overwrite: bool = False) -> None:
    """Write an encoded clip and its sidecar text (made elsewhere: a Ray worker) as write_video does."""
    path = Path(path)
    check_output(path, overwrite)
    _publish(path, overwrite, sidecar, lambda tmp: tmp.write_bytes(clip))


def _publish(path: Path, overwrite: bool, sidecar_text: str, write_clip) -> None:
    sidecar = path.with_suffix(".json")
    for target in (path, sidecar):
        remove_stale_parts(target)
    clip_tmp, side_tmp = _temp_for(path), _temp_for(sidecar)
    writing = sidecar
    try:
        _write_text(side_tmp, sidecar_text)
        writing = path
        write_clip(clip_tmp)
        for tmp in (clip_tmp, side_tmp):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for temp files, not for the user's clips
        _commit(clip_tmp, path, overwrite)
        writing = sidecar
        try:
            os.replace(side_tmp, sidecar)
        except OSError:
            path.unlink(missing_ok=True)  # no clip without its sidecar
            raise
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise GenerationFailed(f"disk full while writing {writing}") from None
        raise GenerationFailed(f"cannot write {writing}: {exc.strerror or exc}") from None
    finally:
        clip_tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _temp_for(path: Path) -> Path:
    """A hidden temp file beside `path` that names this process, so a later run can tell a
    killed run's leftovers (`remove_stale_parts`) from a live run's work in progress."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(name)


def remove_stale_parts(path: Path) -> list[Path]:
    """Delete temp files for `path` left by processes that no longer run (kill -9, power loss)."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\..+\.part$")
    removed = []
    for candidate in path.parent.glob(f".{glob_escape(path.name)}.*.part"):
        match = pattern.match(candidate.name)
        if match and not _alive(int(match.group(1))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
