"""The house's shape, pinned: one model interface, research code apart, one path per clip."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, moving_square

import sora_cli
from sora_cli.cli.app import app
from sora_cli.specs import SPECS
from sora_cli.video_io import read_video

PACKAGE = Path(sora_cli.__file__).parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def product_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "research" not in p.parts and "models" not in p.parts]


@pytest.mark.parametrize("name", ["engine", "sampler", "conditioning", "seams", "plan", "render", "clip"])
def test_the_pipeline_sees_models_only_through_their_interface(name):
    found = {m for m in imports_of(PACKAGE / f"{name}.py") if m.startswith("sora_cli.models")}
    assert found <= {"sora_cli.models.interface"}, found


def test_model_families_do_not_import_each_other():
    for family, other in (("mini", "wan"), ("wan", "mini")):
        for path in (PACKAGE / "models" / family).rglob("*.py"):
            assert not any(m.startswith(f"sora_cli.models.{other}") for m in imports_of(path)), path


def test_nothing_in_the_product_imports_research_code_but_train_and_eval():
    allowed = {PACKAGE / "cli" / "train.py"}
    for path in product_modules() + list((PACKAGE / "models").rglob("*.py")):
        if path in allowed:
            continue
        assert not any(m.startswith("sora_cli.research") for m in imports_of(path)), path


def test_wan_spec_carries_no_network_sizes_of_its_own():
    wan = SPECS["wan2.1-t2v-1.3b"]
    assert wan.dit is None and wan.text is None  # its config.json files are the one source
    assert SPECS["sora-mini"].dit is not None


def test_commands_are_importable_functions_registered_on_the_app():
    from sora_cli.cli import batch, catalog, make, train

    registered = {c.callback for c in app.registered_commands}
    for fn in (make.generate, make.animate, make.extend, make.loop, make.v2v, batch.batch, catalog.presets,
               catalog.models, catalog.pull, catalog.info, train.train, train.evaluate):
        assert fn in registered


def test_generate_and_batch_take_one_path_to_the_same_clip(cli):
    """Same item, same seed: `sora generate` and `sora batch` write the same frames and metadata."""
    args = ["--width", "128", "--height", "72", "--frames", "9", "--seed", "7"]
    r = cli("generate", "a red ball moves left", *args, "-o", "g.mp4")
    assert r.exit_code == 0, r.output
    item = {"prompt": "a red ball moves left", "width": 128, "height": 72, "frames": 9, "seed": 7, "output": "b.mp4"}
    (cli.cwd / "one.jsonl").write_text(json.dumps(item) + "\n")
    r = cli("batch", "one.jsonl", "--out-dir", "out")
    assert r.exit_code == 0, r.output
    a, b = read_video(cli.cwd / "g.mp4").frames.numpy(), read_video(cli.cwd / "out" / "b.mp4").frames.numpy()
    assert a.shape == b.shape and np.array_equal(a, b)
    meta_a = json.loads((cli.cwd / "g.json").read_text())
    meta_b = json.loads((cli.cwd / "out" / "b.json").read_text())
    for key in ("prompt", "seed", "steps", "guidance", "working_size", "command", "unknown_words"):
        assert meta_a[key] == meta_b[key], key


def test_generate_and_batch_warn_the_same_way(cli):
    r = cli("generate", "a red ball zooms", "--width", "128", "--height", "72", "--frames", "5", "-o", "g.mp4")
    (cli.cwd / "one.txt").write_text("a red ball zooms\n")
    b = cli("batch", "one.txt", "--out-dir", "out", "--preset", "16x9-720p")
    warning = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    batch_warning = [ln for ln in b.stderr.splitlines() if ln.startswith("warning:")]
    assert warning and batch_warning
    assert batch_warning[0].endswith(warning[0][len("warning: "):])


def test_v2v_default_strength_is_written_once():
    import inspect

    from sora_cli.cli.make import v2v
    from sora_cli.jobs import V2V_STRENGTH, Job
    from sora_cli.requests import Request

    assert inspect.signature(v2v).parameters["strength"].default == V2V_STRENGTH
    assert Request().strength == V2V_STRENGTH
    assert inspect.signature(Job).parameters["strength"].default == V2V_STRENGTH


def test_extend_plan_places_the_given_clip_before_or_after(tiny, tmp_path):
    import torch

    from sora_cli.plan import plan_clip
    from sora_cli.requests import Request, build_job
    from sora_cli.weights import load_model

    make_video(tmp_path / "in.mp4", moving_square(9))
    model = load_model(str(tiny), torch.device("cpu"), torch.float32)
    for backward in (False, True):
        job, _ = build_job(Request(mode="extend", prompt="x", video=str(tmp_path / "in.mp4"), seconds=0.5,
                                   backward=backward, output=str(tmp_path / f"o{backward}.mp4")))
        plan = plan_clip(job, model)
        given = plan.after if backward else plan.before
        assert given is not None and (plan.before if backward else plan.after) is None
        assert given.count == 9 and plan.new_count == 12
