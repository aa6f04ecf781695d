"""`alta experiment scan-length`: a tiny sweep writes its files; coverage sets add up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from alta import programs
from alta.data import scan as scan_data
from alta.learn import experiments
from alta.learn.experiments import scan_length
from alta.learn.sweep import Job

PNG = b"\x89PNG\r\n\x1a\n"
TINY_SIZE = scan_length.Size(
    scan_length.Sample(3, 2),
    {"hidden": (16,), "noise_std": 0.1, "undefined_noise": None, "schedule": {"steps": 5}},
    cover_all=False,
)


def _tiny(quick: bool, seeds: int) -> list[Job]:
    return scan_length.build_jobs(TINY_SIZE, seeds)


TINY = experiments.Experiment(
    name="scan-tiny",
    claim="a smoke test",
    jobs=_tiny,
    train_lengths=(1, 22),
    buckets=scan_length.EXPERIMENT.buckets,
)


def test_registered() -> None:
    assert "scan-length" in experiments.names()
    assert experiments.get("scan-length") is scan_length.EXPERIMENT
    assert len(scan_length.jobs(True, 5)) == 3 * 5
    full = scan_length.jobs(False, 5)
    assert len(full) == 1 + 3 * 5 and full[0].kwargs["sample"] is None


def test_samples_come_from_their_side_of_the_split() -> None:
    train, test = scan_length.Sample(6, 4).draw(seed=3)
    assert len(train) == 6 and len(test) == 4
    assert all(len(c.actions) <= scan_data.LENGTH_CUTOFF for c in train)
    assert all(24 <= len(c.actions) <= 48 for c in test)
    assert (train, test) == scan_length.Sample(6, 4).draw(seed=3)


def test_tiny_experiment_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    files = experiments.run(
        "scan-tiny", seeds=1, quick=True, out=tmp_path, workers=1, experiment=TINY
    )
    result = json.loads(files["json"].read_text())
    rows = {r["setting"]: r for r in result["rows"]}
    assert set(rows) == {"coverage/sample", "trace/full", "trace/minimal"}
    for name in ("trace/full", "trace/minimal"):
        row = rows[name]
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["history"]
        assert all(int(n) <= 22 or int(n) >= 24 for n in row["by_length"])
        assert 0.0 <= row["step_train"] <= 1.0 and row["records"] > 0
    assert rows["trace/full"]["compiled_test_accuracy"] == 1.0
    assert rows["trace/minimal"]["d_model"] <= rows["trace/full"]["d_model"]
    _consistent(rows["coverage/sample"])
    table = files["markdown"].read_text()
    assert "| trace/full | 1 |" in table and "len 24–30" in table
    for kind in ("length", "loss"):
        assert files[kind].read_bytes().startswith(PNG)


def _consistent(row: dict[str, Any]) -> None:
    train, test = set(row["rules_train"]), set(row["rules_test"])
    assert row["fired_train"] == len(train) and row["fired_test"] == len(test)
    assert row["test_only_rules"] == len(test - train)
    assert train <= set(range(row["rules_unmerged"])) and test <= set(range(row["rules_unmerged"]))
    assert len(row["test_only_text"]) == min(len(test - train), scan_length.SHOWN_RULES)


def test_batched_coverage_of_a_side_is_the_union_of_its_batches() -> None:
    from alta.learn import coverage

    module = coverage.unmerged(programs.get("scan").build()).sparse_ir
    train, _ = scan_length.Sample(4, 1).draw(seed=0)
    rows = [scan_length.scan_task.encode(c.text) for c in train]
    whole = scan_length.fired(module, rows, batch=len(rows))
    assert whole and scan_length.fired(module, rows, batch=1) == whole
