"""Run many independent jobs (seeds x settings, trace extraction, evaluation shards).

Locally on a process pool by default; on a Ray cluster when given an address (`ray_address`
or the `RAY_ADDRESS` environment variable; `pip install 'alta[ray]'`), where a job that
asks for GPUs gets them from Ray's scheduler. Results come back in job order either way.
No scheduling of our own: the pool or Ray decides where each job runs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from typing import Any

import attrs

from alta import progress as alta_progress
from alta.errors import LearnError

log = logging.getLogger(__name__)


@attrs.frozen
class Job:
    """`fn(**kwargs)`; both must pickle (a module-level function, plain data). `gpus` is
    what the job asks Ray for (a local pool ignores it)."""

    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    gpus: float = 0.0
    name: str = ""

    def __call__(self) -> Any:
        return self.fn(**self.kwargs)


def run(
    jobs: Sequence[Job],
    *,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> list[Any]:
    """Each job's result, in job order. `workers=1` runs them here, one by one; Ray is
    used when `ray_address` or `RAY_ADDRESS` is set, or when Ray is already initialised."""
    address = ray_address or os.environ.get("RAY_ADDRESS")
    if address or _ray_ready():
        return _on_ray(jobs, address, progress)
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or len(jobs) <= 1:
        return [job() for job in _bar(jobs, len(jobs), progress)]
    with futures.ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
        pending = [pool.submit(_call, job) for job in jobs]
        for _ in _bar(futures.as_completed(pending), len(jobs), progress):
            pass
        return [f.result() for f in pending]


def _call(job: Job) -> Any:
    return job()


def _one_thread() -> None:
    """A pool worker shares the CPU with the others: one intra-op thread each."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _ray_ready() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def _on_ray(jobs: Sequence[Job], address: str | None, progress: bool) -> list[Any]:
    try:
        import ray
    except ImportError as exc:
        raise LearnError(
            f"Ray address {address!r} given, but ray is not installed: pip install 'alta[ray]'"
        ) from exc
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False)
        except Exception as exc:  # ray raises RuntimeError, ConnectionError, ValueError, ...
            why = " ".join(str(exc).split())
            raise LearnError(
                f"cannot start or reach the Ray cluster at {address!r} ({type(exc).__name__}: "
                f"{why}); pass an address like 'ray://HOST:10001', 'HOST:6379' or 'local'"
            ) from exc
    remote = ray.remote(_call)
    refs = [remote.options(num_cpus=1, num_gpus=job.gpus).remote(job) for job in jobs]
    left = list(refs)
    for _ in _bar(_ray_done(ray, left), len(refs), progress):
        pass
    return list(ray.get(refs))


def _ray_done(ray: Any, left: list[Any]) -> Iterator[Any]:
    while left:
        done, rest = ray.wait(left, num_returns=1)
        left[:] = rest
        yield from done


def _bar(items: Iterable[Any], total: int, progress: bool) -> Iterable[Any]:
    """The items, counted on a bar (alta.progress: rich, on a terminal) and logged."""
    if not progress:
        yield from _logged(items, total)
        return
    with alta_progress.task("jobs", total, delay=0.0) as bar:
        for item in _logged(items, total):
            yield item
            bar.advance()


def _logged(items: Iterable[Any], total: int) -> Iterator[Any]:
    for i, item in enumerate(items, 1):
        yield item
        log.info("job %d/%d done", i, total)
