"""Batches on a Ray cluster: Ray's actors render, this process writes.

Each worker is a Ray actor (batch_render.RayWorker) that loads the model once and renders
many items; Ray restarts a worker that dies (a killed process, a lost node) and retries
its item, up to MAX_RETRIES times, after which the item is failed. Workers return the
encoded clip and its sidecar; only this process (the driver) writes the out-dir and the
manifest, so the out-dir need not be shared storage. Ray is an optional extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sora_cli.batch_render import RayWorker, Rendered
from sora_cli.errors import BadInput, UsageError
from sora_cli.requests import Request

MAX_RETRIES = 2  # a dead worker's item is tried this many more times
INSTALL = 'pip install -e ".[ray]"'


@dataclass(frozen=True)
class Task:
    index: int
    request: Request
    extra: dict


@contextmanager
def session(address: str) -> Iterator[str]:
    """Connected to Ray for the block (see connect); a connection made here is closed after it."""
    import_ray()
    import ray

    ours = not ray.is_initialized()
    joined = connect(address)
    try:
        yield joined
    finally:
        if ours:
            ray.shutdown()


def import_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(f"--ray needs Ray: {INSTALL}") from None


def connect(address: str) -> str:
    """Join the cluster at `address`; "auto" joins the one `ray start` made (or RAY_ADDRESS
    names) and, without one, starts a local Ray on this machine. -> what was joined."""
    import_ray()
    import ray

    options = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    if ray.is_initialized():
        return "ray (already connected)"
    if address == "auto":
        try:
            ray.init(address="auto", **options)
            return "the running Ray cluster"
        except ConnectionError:
            ray.init(**options)
            return "a local Ray on this machine"
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BadInput(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0][:160]}") from None
    return f"the Ray cluster at {address}"


def worker_count(requested: int | None, device: str, todo: int) -> int:
    import ray

    resources = ray.cluster_resources()
    slots = int(resources.get("GPU", 0)) if device.startswith("cuda") else int(resources.get("CPU", 1))
    return max(1, min(requested or slots, slots or 1, todo))


def render_on_ray(tasks: list[Task], device: str, dtype: str, workers: int | None, threads: int,
                  on_start: Callable[[int], None] = lambda n: None) -> Iterator[Rendered]:
    """Yield each task's result as it finishes. Ctrl-C cancels the work still queued or running."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    n = worker_count(workers, device, len(tasks))
    on_start(n)
    gpu = 1 if device.startswith("cuda") else 0
    actor = ray.remote(max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)(RayWorker)

    def start():
        # Passive OpenMP waits: workers that share a node's cores must not spin on them (spinning
        # threads made shared torch jobs many times slower here).
        env = {"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}}
        return actor.options(num_cpus=0 if gpu else 1, num_gpus=gpu, runtime_env=env).remote(device, dtype, threads)

    actors = [start() for _ in range(n)]
    queue: Iterator[Task] = iter(tasks)
    running: dict = {}

    def feed(a) -> None:
        task = next(queue, None)
        if task is not None:
            running[a.render.remote(task.index, task.request, task.extra)] = (task, a)

    try:
        for a in actors:
            feed(a)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            task, a = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except RayActorError as exc:  # the worker died more often than Ray restarts it: a new one goes on
                result = Rendered(task.index, "failed", f"worker died: {_first_line(exc)}")
                actors[actors.index(a)] = a = start()
            except RayTaskError as exc:  # not a SoraError: a bug, reported as the item's failure
                result = Rendered(task.index, "failed", f"worker error: {_first_line(exc)}")
            yield result
            feed(a)
    finally:
        for ref in running:
            ray.cancel(ref)  # an actor task is cancelled, not killed: the actors are killed below
        for a in actors:
            ray.kill(a)


def _first_line(exc: Exception) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def tasks_for(items: Iterable, extra_of: Callable) -> list[Task]:
    return [Task(item.index, with_absolute_inputs(item.request), extra_of(item)) for item in items]


def with_absolute_inputs(request: Request) -> Request:
    """The request with its input files (image, video, storyboard, a model folder) as absolute paths.

    A Ray worker does not run in the driver's working directory, so a path the batch file gives
    relative to it would not be found there.
    """
    files = {k: str(Path(v).resolve()) for k in ("image", "video", "storyboard")
             if (v := getattr(request, k)) and not Path(v).is_absolute()}
    folder = Path(request.model).expanduser()
    if not folder.is_absolute() and folder.is_dir():  # a folder, as weights.find_model takes it, not a name
        files["model"] = str(folder.resolve())
    return replace(request, **files)
