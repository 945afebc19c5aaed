"""`sora batch --ray`: the same items, seeds and frames as a local batch, on Ray workers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import make_video, moving_square, run_sora, sora_exe

from sora_cli.cli.batch import ray_flag_with_address
from sora_cli.video_io import read_video

ray = pytest.importorskip("ray")

ITEM = {"width": 128, "height": 72, "frames": 9}
PROMPTS = ["a red ball", "a blue box", "a green ball moves left", "a pink circle", "a white square",
           "a yellow triangle"]


def write_batch(folder, name="p.jsonl", prompts=PROMPTS, extra=None):
    rows = [{"prompt": p, **ITEM} for p in prompts] + (extra or [])
    (folder / name).write_text("\n".join(map(json.dumps, rows)) + "\n")
    return name


def frames(path):
    return read_video(path).frames.numpy()


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the in-process runs (the CLI joins it as `--ray` would start it)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_a_bare_ray_flag_means_auto_and_an_address_is_kept():
    assert ray_flag_with_address(["batch", "p.txt", "--ray"]) == ["batch", "p.txt", "--ray", "auto"]
    assert ray_flag_with_address(["batch", "--ray", "p.txt"]) == ["batch", "--ray", "auto", "p.txt"]
    assert ray_flag_with_address(["batch", "p.txt", "--ray", "10.0.0.1:6379"])[-1] == "10.0.0.1:6379"


def test_two_ray_workers_make_the_same_frames_as_a_local_run(cli, local_ray):
    write_batch(cli.cwd)
    r = cli("batch", "p.jsonl", "--out-dir", "local", "--seed", "5")
    assert r.exit_code == 0, r.output
    r = cli("batch", "p.jsonl", "--out-dir", "onray", "--seed", "5", "--ray", "auto", "--workers", "2", "--json")
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)["items"]
    assert [i["status"] for i in items] == ["done"] * 6
    for item in items:
        name = os.path.basename(item["output"])
        assert np.array_equal(frames(cli.cwd / "onray" / name), frames(cli.cwd / "local" / name)), name
        meta = json.loads((cli.cwd / "onray" / name).with_suffix(".json").read_text())
        assert meta["seed"] == item["seed"] and meta["batch_key"]
    manifest = json.loads((cli.cwd / "onray" / "manifest.json").read_text())
    assert [i["status"] for i in manifest["items"]] == ["done"] * 6


def test_items_with_input_files_on_ray_find_them_by_their_relative_paths(cli, local_ray):
    """Ray's workers run in their own folder: a storyboard or image named relative to the batch's is still found."""
    from test_storyboard import BOARD

    (cli.cwd / "story.yaml").write_text(BOARD)
    make_video(cli.cwd / "still.png", moving_square(1))
    write_batch(cli.cwd, prompts=[], extra=[{"storyboard": "story.yaml"},
                                            {"mode": "animate", "image": "still.png", "prompt": "a red ball", **ITEM}])
    r = cli("batch", "p.jsonl", "--out-dir", "o", "--ray", "auto", "--workers", "2", "--json")
    assert r.exit_code == 0, r.output
    items = json.loads(r.stdout)["items"]
    assert [i["mode"] for i in items] == ["storyboard", "animate"] and items[0]["seed"] == 11
    assert cli("storyboard", "story.yaml", "-q", "-o", "direct.mp4").exit_code == 0
    onray = cli.cwd / "o" / os.path.basename(items[0]["output"])
    assert np.array_equal(frames(onray), frames(cli.cwd / "direct.mp4"))
    meta = json.loads(onray.with_suffix(".json").read_text())
    assert [s["join"] for s in meta["storyboard"]] == ["cut", "continue", "cut"]
    assert json.loads((cli.cwd / "o" / "manifest.json").read_text())["items"][1]["status"] == "done"


def test_an_item_that_fails_on_a_worker_is_recorded_and_the_rest_go_on(cli, local_ray, nan_model):
    write_batch(cli.cwd, prompts=PROMPTS[:2], extra=[{"prompt": "nan", "model": str(nan_model), **ITEM}])
    r = cli("batch", "p.jsonl", "--out-dir", "o", "--ray", "auto", "--json")
    assert r.exit_code == 4
    statuses = [i["status"] for i in json.loads(r.stdout)["items"]]
    assert statuses == ["done", "done", "failed"]
    assert "NaN" in json.loads((cli.cwd / "o" / "manifest.json").read_text())["items"][2]["error"]


def test_a_killed_worker_has_its_item_retried(tiny, tmp_path):
    """A worker process killed mid-item: Ray restarts it and the item is made all the same."""
    prompts = [f"a red ball {i}" for i in range(4)]
    rows = [{"prompt": p, "width": 256, "height": 144, "frames": 120} for p in prompts]
    (tmp_path / "p.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    proc = subprocess.Popen([*sora_exe(), "batch", "p.jsonl", "--model", str(tiny), "--out-dir", "o", "--ray",
                             "--workers", "2", "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.time() + 240
    while killed is None and time.time() < deadline and proc.poll() is None:
        out = subprocess.run(["pgrep", "-f", "RayWorker.render"], capture_output=True, text=True).stdout.split()
        if out:
            killed = int(out[0])
            time.sleep(1.0)  # into the item
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    stdout, stderr = proc.communicate(timeout=600)
    assert killed is not None, "no worker was seen rendering"
    assert proc.returncode == 0, stderr
    assert [i["status"] for i in json.loads(stdout)["items"]] == ["done"] * 4


def test_ctrl_c_leaves_a_consistent_manifest_and_a_rerun_resumes(tiny, tmp_path):
    rows = [{"prompt": f"a blue box {i}", "width": 256, "height": 144, "frames": 72} for i in range(6)]
    (tmp_path / "p.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    args = ["batch", "p.jsonl", "--model", str(tiny), "--out-dir", "o", "--ray", "--workers", "2", "--json"]
    proc = subprocess.Popen([*sora_exe(), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    manifest = tmp_path / "o" / "manifest.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if manifest.is_file() and any(i["status"] == "done" for i in json.loads(manifest.read_text())["items"]):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted"
    statuses = [i["status"] for i in json.loads(manifest.read_text())["items"]]
    assert "done" in statuses and set(statuses) <= {"done", "interrupted"}
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.endswith(".part")]
    r = run_sora(*args, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    again = [i["status"] for i in json.loads(r.stdout)["items"]]
    assert again == ["skipped" if s == "done" else "done" for s in statuses]


def test_the_cli_joins_a_real_cluster_started_with_ray_start(tiny, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a throwaway cluster on loopback: without Ray's token authentication, which a real cluster keeps
    env = dict(os.environ, RAY_ADDRESS="", RAY_AUTH_MODE="disabled")
    ray_exe = os.path.join(os.path.dirname(sys.executable), "ray")
    start = subprocess.run([ray_exe, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                            "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                           capture_output=True, text=True, env=env, timeout=180)
    assert start.returncode == 0, start.stderr
    try:
        (tmp_path / "p.jsonl").write_text("\n".join(json.dumps({"prompt": p, **ITEM}) for p in PROMPTS[:2]) + "\n")
        r = run_sora("batch", "p.jsonl", "--model", str(tiny), "--out-dir", "o", "--ray", f"127.0.0.1:{port}",
                     "--json", cwd=tmp_path, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        assert [i["status"] for i in json.loads(r.stdout)["items"]] == ["done", "done"]
    finally:
        subprocess.run([ray_exe, "stop", "--force"], capture_output=True, env=env, timeout=120)


def test_without_ray_the_flag_says_how_to_install_it(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    write_batch(cli.cwd, prompts=PROMPTS[:1])
    r = cli("batch", "p.jsonl", "--out-dir", "o", "--ray", "auto")
    assert r.exit_code == 2 and 'pip install -e ".[ray]"' in r.stderr
