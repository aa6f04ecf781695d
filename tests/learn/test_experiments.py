"""`alta experiment`: a tiny sweep writes well-formed JSON, markdown and PNGs; CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from alta.errors import LearnError, UsageError
from alta.learn import cli, experiments
from alta.learn.experiments import common, minimality

PNG = b"\x89PNG\r\n\x1a\n"


def _tiny(quick: bool, seeds: int) -> list:  # type: ignore[type-arg]
    split = common.Split((1, 2, 3), (4, 5), 4, 2)
    mlp = {"hidden": (16,), "schedule": {"steps": 20, "warmup_steps": 5}}
    model = {"universal": True, "layers": 2, "positions": "relative", "min_width": 8}
    base = {"case_name": "parity_sequential_relative", "split": split}
    settings = [
        (common.trace_run, {**base, "setting": "rel/trace", "mlp": mlp}),
        (common.trace_run, {**base, "setting": "rel/minimal", "mlp": mlp, "minimal": True}),
        (
            common.end_to_end_run,
            {
                **base,
                "setting": "rel/e2e",
                "model": model,
                "train_config": {"schedule": {"steps": 5, "warmup_steps": 1}},
            },
        ),
        (minimality.coverage_run, {**base, "setting": "rel/coverage"}),
    ]
    return common.jobs(settings, seeds)


TINY = experiments.Experiment(
    name="tiny", claim="a smoke test", jobs=_tiny, train_lengths=(1, 3), buckets=((1, 3), (4, 5))
)


def test_tiny_experiment_writes_json_markdown_and_plots(tmp_path: Path) -> None:
    files = experiments.run("tiny", seeds=2, quick=True, out=tmp_path, workers=1, experiment=TINY)
    result = json.loads(files["json"].read_text())
    assert result["meta"]["seeds"] == 2 and len(result["rows"]) == 8
    rows = {(r["setting"], r["seed"]): r for r in result["rows"]}
    trace = rows[("rel/trace", 1)]
    assert 0.0 <= trace["test_accuracy"] <= 1.0 and set(trace["by_length"]) == {
        "1",
        "2",
        "3",
        "4",
        "5",
    }
    assert trace["history"] and rows[("rel/coverage", 0)]["test_only_rules"] == 0
    table = files["markdown"].read_text()
    assert files["json"].name == "tiny-quick.json"
    assert "| rel/trace | 2 |" in table and "len 4–5" in table and "±" in table
    for kind in ("length", "loss"):
        assert files[kind].read_bytes().startswith(PNG)


def test_unknown_experiment_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown experiment .nope.; known: addition"):
        cli.main(["nope"])
    with pytest.raises(UsageError, match="--seeds"):
        cli.main(["parity", "--seeds", "0"])
    with pytest.raises(UsageError, match="invalid int"):
        cli.main(["parity", "--seeds", "many"])


def test_list_names_every_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("parity", "addition", "minimality"))


def test_every_experiment_has_at_least_five_seeds_of_jobs() -> None:
    for name in experiments.names():
        jobs = experiments.get(name).jobs(True, 5)
        assert len({job.kwargs["seed"] for job in jobs}) == 5


def _never(quick: bool, seeds: int) -> list:  # type: ignore[type-arg]
    raise AssertionError("the jobs were built before --out was checked")


def test_an_unusable_out_fails_before_any_job(tmp_path: Path) -> None:
    """`--out FILE` once failed with a traceback after every job had trained."""
    never = experiments.Experiment(
        name="never", claim="", jobs=_never, train_lengths=(1, 2), buckets=((1, 2),)
    )
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out in (a_file, a_file / "sub"):
        with pytest.raises(LearnError, match=str(out)):
            experiments.run("never", seeds=1, out=out, workers=1, experiment=never)


def test_a_ray_address_ray_cannot_use_is_a_learn_error(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with pytest.raises(LearnError, match="cannot start or reach the Ray cluster at 'bogus://x'"):
        experiments.run(
            "tiny", seeds=1, quick=True, out=tmp_path, ray_address="bogus://x", experiment=TINY
        )
