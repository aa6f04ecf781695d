"""Sweeps: the same results, in job order, serially, on a process pool and on Ray."""

from __future__ import annotations

import pytest

from alta.learn import sweep


def _jobs() -> list[sweep.Job]:
    return [sweep.Job(dict, {"a": i, "b": i * i}) for i in range(5)]


def test_process_pool_matches_serial() -> None:
    assert (
        sweep.run(_jobs(), workers=2)
        == sweep.run(_jobs(), workers=1)
        == [{"a": i, "b": i * i} for i in range(5)]
    )


def test_bad_worker_count_is_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        sweep.run(_jobs(), workers=-1)


def test_ray_sweep_on_a_local_instance() -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        assert sweep.run(_jobs()[:2]) == [{"a": 0, "b": 0}, {"a": 1, "b": 1}]
    finally:
        ray.shutdown()
