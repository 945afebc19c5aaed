"""`sora batch`: every format, validation before the model loads, partial failure, resume."""

import json

import pytest
from conftest import make_video, moving_square

from sora_cli.video_io import read_metadata, read_video

SIZE = {"width": 128, "height": 72, "frames": 5}


def write(folder, name, text):
    (folder / name).write_text(text)
    return name


FORMATS = {
    "p.txt": "# two prompts\na red ball moves left\n\na blue box bounces\n",
    "p.jsonl": "\n".join(json.dumps({"prompt": p, **SIZE}) for p in ("a red ball", "a blue box")) + "\n",
    "p.yaml": "- prompt: a red ball\n  width: 128\n  height: 72\n  frames: 5\n- {prompt: a blue box, seed: 9}\n",
    "p.csv": "prompt,width,height,frames,seed\na red ball,128,72,5,\na blue box,128,72,5,4\n",
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_runs_every_item(cli, name):
    write(cli.cwd, name, FORMATS[name])
    r = cli("batch", name, "--preset", "16x9-720p", "--out-dir", "out", "--seed", "100", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["done"] == 2 and summary["failed"] == 0
    outs = [item["output"] for item in summary["items"]]
    assert all(read_video(o).frames.shape[0] > 0 for o in outs)
    assert read_metadata(outs[0])["seed"] == 100  # item i gets base seed + i unless it sets one
    if name in ("p.yaml",):
        assert read_metadata(outs[1])["seed"] == 9


def test_items_set_any_mode_and_option(cli):
    make_video(cli.cwd / "still.png", moving_square(1))
    make_video(cli.cwd / "clip.mp4", moving_square(9))
    rows = [{"mode": "animate", "image": "still.png", "prompt": "the square moves right", **SIZE},
            {"mode": "extend", "video": "clip.mp4", "prompt": "on", "seconds": 0.25, "backward": True},
            {"mode": "v2v", "video": "clip.mp4", "prompt": "a green square", "strength": 0.5, "output": "v.gif"},
            {"mode": "loop", "prompt": "a ball", "preset": "1x1", "frames": 6, "preview": True}]
    write(cli.cwd, "m.jsonl", "\n".join(map(json.dumps, rows)))
    r = cli("batch", "m.jsonl", "--out-dir", "out", "--json")
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)["items"]
    assert [read_metadata(i["output"])["mode"] for i in items] == ["animate", "extend", "v2v", "loop"]
    assert read_video(cli.cwd / "out" / "v.gif").frames.shape[0] == 9
    assert read_video(items[3]["output"]).frames.shape[1:3] == (270, 270)


def test_the_whole_file_is_validated_before_any_work_with_line_numbers(cli):
    text = ('{"prompt": "ok", "width": 128, "height": 72, "frames": 5}\n'
            '{"prompt": ""}\n'
            '{"prompt": "x", "colour": "red"}\n'
            '{"prompt": "x", "mode": "animate", "image": "nope.png"}\n')
    write(cli.cwd, "bad.jsonl", text)
    r = cli("batch", "bad.jsonl", "--out-dir", "out")
    assert r.exit_code == 3
    *errors, summary = r.stderr.strip().splitlines()
    assert [e.split(":")[2] for e in errors] == ["2", "3", "4"]
    assert "prompt is empty" in errors[0] and "colour" in errors[1] and "image not found" in errors[2]
    assert summary == "error: 3 problems in bad.jsonl; nothing was run"
    assert not (cli.cwd / "out").exists()  # a file that fails validation creates nothing


def test_malformed_files_are_bad_input(cli):
    for name, text, message in (("a.jsonl", "{nope\n", "a.jsonl:1: not valid JSON"),
                                ("b.yaml", "prompt: [\n", "not valid YAML"),
                                ("c.yaml", "prompt: x\n", "a list of items"),
                                ("d.txt", "# only a comment\n", "no items"),
                                ("e.csv", "prompt,frames\nx,lots\n", "frames='lots'")):
        write(cli.cwd, name, text)
        r = cli("batch", name)
        assert r.exit_code == 3 and message in r.stderr, (name, r.stderr)
    r = cli("batch", "missing.txt")
    assert r.exit_code == 3 and "not found" in r.stderr


def test_one_failing_item_does_not_stop_the_rest_and_resume_skips_done_items(cli, nan_model, monkeypatch):
    rows = [{"prompt": "a red ball", **SIZE}, {"prompt": "a blue box", "model": str(nan_model), **SIZE},
            {"prompt": "a green ball", **SIZE}]
    write(cli.cwd, "b.jsonl", "\n".join(map(json.dumps, rows)))
    r = cli("batch", "b.jsonl", "--out-dir", "out", "--json")
    assert r.exit_code == 4
    summary = json.loads(r.stdout)
    assert [i["status"] for i in summary["items"]] == ["done", "failed", "done"]
    assert "NaN" in summary["items"][1]["error"]
    manifest = json.loads((cli.cwd / "out" / "manifest.json").read_text())
    assert [i["status"] for i in manifest["items"]] == ["done", "failed", "done"]
    first = (cli.cwd / summary["items"][0]["output"]).stat().st_mtime_ns

    # fix the failing item and run again: only it is made; the others are skipped untouched
    rows[1].pop("model")
    write(cli.cwd, "b.jsonl", "\n".join(map(json.dumps, rows)))
    r = cli("batch", "b.jsonl", "--out-dir", "out", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert [i["status"] for i in summary["items"]] == ["skipped", "done", "skipped"]
    assert (cli.cwd / summary["items"][0]["output"]).stat().st_mtime_ns == first


def test_prompts_from_stdin(cli):
    r = cli("batch", "-", "--preset", "16x9-720p", "--out-dir", "o", input="a red ball\na blue box\n")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.split()) == 2
