"""SHA256SUMS beside a model's files: weights that do not match are refused, never loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sora_cli.errors import BadInput

SUMS_FILE = "SHA256SUMS"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != SUMS_FILE)
    lines = [f"{sha256(folder / n)}  {n}\n" for n in names]
    (folder / SUMS_FILE).write_text("".join(lines))


def verify_checksums(folder: Path) -> None:
    sums = folder / SUMS_FILE
    if not sums.is_file():
        raise BadInput(f"{folder}: no {SUMS_FILE}; refusing unverified weights")
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        path = folder / name.strip()
        if not path.is_file():
            raise BadInput(f"weights file missing: {path}")
        if sha256(path) != expected:
            raise BadInput(f"weights file is corrupted (sha256 mismatch): {path}")
