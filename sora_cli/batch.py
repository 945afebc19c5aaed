"""Batch prompt files: read, validate every item up front, run, record, resume.

Formats: .txt (one prompt a line, '#' comments), .jsonl (one object a line), .yaml
(a list of mappings) and .csv (a header row naming the fields). An item may set any
Request field; an item with `storyboard: FILE` renders that storyboard into one clip. A
manifest beside the outputs records each item; a re-run skips items whose output is
complete and was made from the same item.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from sora_cli.errors import BadInput
from sora_cli.requests import REQUEST_KEYS, Request, build_job, slug
from sora_cli.storyboard import board_seed
from sora_cli.storyboard_clip import storyboard_job
from sora_cli.video_io import is_within

FORMATS = (".txt", ".jsonl", ".yaml", ".yml", ".csv")
_TYPES = {f.name: f.type for f in fields(Request)}
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Item:
    index: int
    line: int
    request: Request

    @property
    def key(self) -> str:
        """Identifies what the item asks for, so a changed item is made again. The output counts
        by where it resolves to: `--out-dir out` and `--out-dir $PWD/out` are the same batch."""
        fields_ = {k: v for k, v in vars(self.request).items() if k != "overwrite"}
        if fields_.get("output"):
            fields_["output"] = str(Path(fields_["output"]).resolve())
        text = json.dumps(fields_, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_items(text: str, fmt: str, source: str) -> list[tuple[int, dict]]:
    """-> (line number, raw fields) for every item, in order."""
    if fmt == ".txt":
        return [(n, {"prompt": line.strip()}) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if fmt == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{source}:{n}: not valid JSON ({exc.msg})") from None
            rows.append((n, data))
        return rows
    if fmt == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        return [(reader.line_num, {k: v for k, v in row.items() if v not in ("", None)}) for row in reader]
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise BadInput(f"{source}: not valid YAML ({exc})".replace("\n", " ")) from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise BadInput(f"{source}: a YAML batch is a list of items")
    loaded = yaml.safe_load(text)
    return [(node.start_mark.line + 1, data) for node, data in zip(root.value, loaded)]


def parse_item(raw: object, where: str) -> tuple[Request, list[str]]:
    """An item's Request from the fields that parse, and one problem for each that does not."""
    if isinstance(raw, str):
        raw = {"prompt": raw}
    if not isinstance(raw, dict):
        return Request(), [f"{where}: an item is a prompt or a mapping of fields"]
    problems = []
    unknown = set(raw) - REQUEST_KEYS
    if unknown:
        problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {}
    for key, value in raw.items():
        if key in unknown:
            continue
        try:
            values[key] = _coerce(value, _TYPES[key])
        except ValueError:
            problems.append(f"{where}: {key}={value!r} is not a valid {_TYPES[key]}")
    return Request(**values), problems


def _coerce(value: object, kind: str) -> object:
    """CSV gives strings; JSON and YAML give typed values. Bring both to the field's type."""
    if value is None:
        return None
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("1", "true", "yes", "y"):
            return True
        if str(value).strip().lower() in ("0", "false", "no", "n", ""):
            return False
        raise ValueError(value)
    if "int" in kind:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if "float" in kind:
        return float(value)
    return str(value)


Problem = tuple[int, str]  # (line, message)


def load_batch(path: Path, fmt: str | None = None, stdin_text: str | None = None) -> tuple[list[Item], list[Problem]]:
    """-> every item (from the fields that parse), and one problem for each field that does not."""
    fmt = (fmt or path.suffix).lower()
    fmt = ".yaml" if fmt == ".yml" else fmt
    if not fmt.startswith("."):
        fmt = "." + fmt
    if fmt not in FORMATS:
        raise BadInput(f"{path}: unknown batch format '{fmt}' (use {', '.join(FORMATS)})")
    if stdin_text is None:
        if not path.is_file():
            raise BadInput(f"batch file not found: {path}")
        try:
            stdin_text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read {path}: {exc}") from None
    rows = read_items(stdin_text, fmt, str(path))
    if not rows:
        raise BadInput(f"{path}: no items")
    items, problems = [], []
    for i, (line, raw) in enumerate(rows):
        request, found = parse_item(raw, f"{path}:{line}")
        items.append(Item(i, line, request))
        problems += [(line, message) for message in found]
    return items, problems


def plan(items: list[Item], out_dir: Path, base_seed: int, defaults: dict) -> list[Item]:
    """Fill in what items leave open: seed, output path, the command line's defaults.

    A relative output is inside the out-dir; an absolute one is where the item says.
    """
    planned = []
    for item in items:
        req = item.request
        given = {k: v for k, v in vars(req).items() if v != getattr(Request(), k)}
        merged = replace(Request(), **(defaults | given))
        seed = merged.seed
        if seed is None and merged.storyboard:
            seed = board_seed(Path(merged.storyboard))  # the file's own, as `sora storyboard` would use
        seed = seed if seed is not None else base_seed + item.index
        name = Path(merged.storyboard).stem if merged.storyboard else merged.prompt
        output = merged.output or f"{item.index:04d}-{slug(name, 32)}.mp4"
        output = str(out_dir / output) if not Path(output).is_absolute() else output
        planned.append(Item(item.index, item.line, replace(merged, seed=seed, output=output)))
    return planned


def validate(items: list[Item], source: Path, out_dir: Path, done: set[int], problems: list[Problem],
             raw_outputs: dict[int, str | None]) -> list[str]:
    """Every problem of every line, in line order; items already done are not re-checked.

    `raw_outputs`: each item's output as the file gave it, to refuse relative paths that
    would leave the out-dir ("../x.mp4"); an absolute path says where it goes explicitly.
    """
    problems = list(problems)
    by_output: dict[Path, int] = {}
    for item in items:
        where = f"{source}:{item.line}"
        raw = raw_outputs.get(item.index)
        if raw and not Path(raw).is_absolute() and not is_within(Path(item.request.output).parent, out_dir):
            problems.append((item.line, f"{where}: output {raw} is outside the out-dir {out_dir} "
                                        "(give an absolute path to write elsewhere)"))
        resolved = Path(item.request.output).resolve()
        if resolved in by_output:
            problems.append((item.line, f"{where}: output {item.request.output} is also line "
                                        f"{by_output[resolved]}'s output"))
        by_output.setdefault(resolved, item.line)
        if item.index in done:
            continue
        try:
            if item.request.storyboard:
                storyboard_job(item.request, folder_to_be_made=out_dir)
            else:
                build_job(item.request, folder_to_be_made=out_dir)
        except BadInput as exc:
            problems.append((item.line, f"{where}: {exc}"))
    return [message for _, message in sorted(problems, key=lambda p: p[0])]


def is_complete(item: Item) -> bool:
    out = Path(item.request.output)
    sidecar = out.with_suffix(".json")
    if not (out.is_file() and sidecar.is_file()):
        return False
    try:
        return json.loads(sidecar.read_text()).get("batch_key") == item.key
    except (OSError, json.JSONDecodeError):
        return False


def read_manifest(out_dir: Path) -> dict:
    path = out_dir / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_manifest(out_dir: Path, manifest: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".part", dir=out_dir)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, out_dir / MANIFEST)
    finally:
        Path(tmp).unlink(missing_ok=True)
