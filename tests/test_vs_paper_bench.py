"""Smoke tests of benchmarks/vs_paper.py and benchmarks/gpu_paper_scale.py.

The references must be right for the comparison to mean anything; the scripts must run
(and skip) where the paper's checkout or a GPU is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


vs_paper = _load("vs_paper")


def test_references() -> None:
    assert vs_paper.parity_reference([1, 0, 1, 1]) == 1
    assert vs_paper.addition_reference([789, 456]) == 1245
    assert vs_paper.sort_reference([5, 3, 9]) == [0, 3, 5, 9]
    # ADD a, b with Z at 11 (the paper's SUBLEQ test): mem[10] becomes 5 + 10.
    mem = [9, 11, 3, 11, 10, 6, 11, 11, -1, 5, 10, 0]
    assert vs_paper.subleq_reference(mem)[10] == 15
    scan = vs_paper.REFERENCES["scan"]
    assert scan("jump twice after walk") == ["WALK", "JUMP", "JUMP"]
    assert scan("look right and turn opposite right twice") == ["RTURN", "LOOK", *["RTURN"] * 4]
    assert scan("run around left") == ["LTURN", "RUN"] * 4


def test_inputs_are_valid_and_seeded() -> None:
    rng = random.Random(0)
    machines = vs_paper.subleq_inputs(rng, 5)
    assert all(vs_paper.subleq_reference(m) is not None for m in machines)
    assert machines == vs_paper.subleq_inputs(random.Random(0), 5)
    commands = vs_paper.scan_inputs(random.Random(1), 3, False)
    assert len(set(commands)) == 3 and all(len(c.split()) <= 9 for c in commands)


def test_skips_without_a_checkout() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "vs_paper.py")], capture_output=True, text=True, env=ENV
    )
    assert done.returncode == 0
    assert done.stdout.strip().startswith("vs_paper: skipped")


PAPER = os.environ.get("PAPER_ALTA", "/tmp/paper_alta")


@pytest.mark.skipif(not Path(PAPER, "framework").is_dir(), reason="no paper checkout")
def test_one_small_program_against_the_paper(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "vs_paper.py"), "--alta-src", PAPER, "--quick"]
    cmd += ["--programs", "parity_sparse_seq_rel", "--n", "4", "--backends", "numpy"]
    subprocess.run([*cmd, "--out", str(tmp_path)], check=True, env=ENV, capture_output=True)
    row = json.loads((tmp_path / "vs-paper-quick.json").read_text())["rows"][0]
    assert row["paper"]["interp"]["@1"]["correct"] == 4
    assert row["paper"]["compiled"]["numpy"]["@1"]["correct"] == 4
    assert row["alta"]["compiled"]["numpy"]["@4"]["correct"] == 4
    assert row["paper"]["sizes"]["rules"] == 7


def test_card_peaks() -> None:
    gpu = _load("gpu_paper_scale")
    assert gpu.card_peaks("NVIDIA H200")[0] == "H200"
    assert gpu.card_peaks("NVIDIA H100 80GB HBM3")[0] == "H100"
    assert gpu.card_peaks("NVIDIA H100 PCIe")[0] == "H100 PCIe"
    assert gpu.card_peaks("NVIDIA A100-SXM4-40GB")[0] == "A100 40GB"
    assert gpu.card_peaks("NVIDIA A100-SXM4-80GB")[0] == "A100"
    assert gpu.card_peaks("Tesla T4") == ("", None)


def test_gpu_script_runs_on_cpu(tmp_path: Path) -> None:
    cmd = [sys.executable, str(BENCH / "gpu_paper_scale.py"), "--device", "cpu", "--quick"]
    cmd += ["--variants", "onnx", "--out", str(tmp_path)]  # torch's import alone takes 4 s
    subprocess.run(cmd, check=True, env={**ENV, "OUT": ""}, capture_output=True)
    report = json.loads((tmp_path / "gpu-paper-scale-cpu-quick.json").read_text())
    timed = [r for r in report["rows"] if "@1" in r]
    assert timed and not [r["error"] for r in report["rows"] if "error" in r]
    assert all(r["@8"]["seq_per_s"] > 0 for r in timed)
