"""Throughput of the batched reference interpreter on every program in `alta.programs`.

Usage (from the repository root):

    python benchmarks/interpreter.py            # batch 256, median of 3 runs
    python benchmarks/interpreter.py --quick    # batch 32, one run: a smoke test
    python benchmarks/interpreter.py --programs parity addition
    python benchmarks/interpreter.py --paper /tmp/paper_alta  # ours vs the paper's code

It prints a markdown table and writes JSON to benchmarks/results/interpreter.json
(interpreter-quick.json with --quick). Beside each program it shows the interpreter time
per sequence of the paper's code for the comparable program, measured on a 2-vCPU Xeon
VM (reference/alta-measured.md, run 2). That interpreter runs one sequence at a time.

`--paper CHECKOUT` instead runs the paper's own interpreter here, interleaved with ours,
on the paper's Python-function programs (ours one sequence at a time and as a batch,
with the function-MLP cache cold and warm), checks that the outputs agree, and writes
benchmarks/results/interpreter-paper.{json,md}.
"""

from __future__ import annotations

import os

# One BLAS thread, as in the paper-code measurements; this must precede `import numpy`.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alta import interp

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: The paper code's interpreter, median ms per sequence (alta-measured.md, run 2).
PAPER_INTERP_MS: dict[str, float] = {
    "parity_seq_abs": 0.492,
    "parity_seq_rel": 0.615,
    "parity_sum_mod_2": 0.423,
    "parity_sum_mod_2_intermediate": 0.578,
    "parity_sparse_seq_abs": 0.518,
    "parity_sparse_seq_rel": 0.62,
    "parity_sparse_sum_mod_2": 0.348,
    "addition_sparse": 2.75,
    "addition_simple": 1.09,
    "sort_unique": 0.249,
    "subleq_sparse": 3.39,
    "subleq_simple": 1.25,
}

#: The paper measurement's inputs: median length L and median layers (same source).
PAPER_SHAPE: dict[str, tuple[int, int]] = {
    "parity_seq_abs": (5, 15),
    "parity_seq_rel": (6, 15),
    "parity_sum_mod_2": (6, 15),
    "parity_sum_mod_2_intermediate": (6, 15),
    "parity_sparse_seq_abs": (5, 15),
    "parity_sparse_seq_rel": (6, 15),
    "parity_sparse_sum_mod_2": (6, 15),
    "addition_sparse": (11, 7),
    "addition_simple": (11, 7),
    "sort_unique": (9, 5),
    "subleq_sparse": (12, 9),
    "subleq_simple": (12, 9),
}

#: Our registry name -> the paper's comparable program. Rule programs compare with the
#: paper's hand-written "sparse" versions; Python-function parity with the paper's rules
#: generated from the same function; Python-function addition/SUBLEQ with its "simple" ones.
PAPER_COUNTERPART: dict[str, str] = {
    "parity_sequential_absolute": "parity_seq_abs",
    "parity_sequential_absolute_rules": "parity_sparse_seq_abs",
    "parity_sequential_relative": "parity_seq_rel",
    "parity_sequential_relative_rules": "parity_sparse_seq_rel",
    "parity_sum_mod_2": "parity_sum_mod_2",
    "parity_sum_mod_2_rules": "parity_sparse_sum_mod_2",
    "parity_intermediate": "parity_sum_mod_2_intermediate",
    "addition": "addition_simple",
    "addition_rules": "addition_sparse",
    "sort_unique": "sort_unique",
    "subleq": "subleq_simple",
    "subleq_rules": "subleq_sparse",
}

COLUMNS = (
    "program",
    "batch",
    "median L",
    "seq/s",
    "ms/seq",
    "median layers",
    "ms/seq-layer",
    "paper program",
    "paper ms/seq",
    "paper L, layers",
    "speedup",
    "µs/position-layer",
    "paper µs/position-layer",
    "speedup per position-layer",
)


# --------------------------------------------------------------------------- registry


def load_registry() -> list[Any]:
    """The registered programs: entries with `name`, `build()`, `generate(rng, n)`, `max_layers`."""
    import alta.programs as programs

    return list(programs.PROGRAMS.values())


def paper_name(entry: Any) -> str | None:
    """The paper program comparable to `entry` (an entry may name it as `paper_name`)."""
    explicit = getattr(entry, "paper_name", None)
    if explicit:
        return str(explicit)
    return PAPER_COUNTERPART.get(str(entry.name))


# --------------------------------------------------------------------------- measuring


def time_runs(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls of `fn`, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure(entry: Any, batch: int, repeats: int, seed: int) -> dict[str, Any]:
    """Time the batched interpreter on `batch` generated inputs of one program."""
    program = entry.build()
    inputs = [list(map(int, seq)) for seq in entry.generate(np.random.default_rng(seed), batch)]
    max_layers = entry.max_layers
    result = interp.run(program, inputs, max_layers=max_layers)
    times = time_runs(lambda: interp.run(program, inputs, max_layers=max_layers), repeats)
    seconds = statistics.median(times)
    layers = np.asarray(result.layers)
    lengths = [len(seq) for seq in inputs]
    row: dict[str, Any] = {
        "program": entry.name,
        "batch": len(inputs),
        "max_layers": max_layers,
        "runs_s": times,
        "median_s": seconds,
        "seq_per_s": len(inputs) / seconds,
        "ms_per_seq": 1000 * seconds / len(inputs),
        "median_layers": float(np.median(layers)),
        "total_sequence_layers": int(layers.sum()),
        "ms_per_sequence_layer": 1000 * seconds / max(int(layers.sum()), 1),
        "median_length": float(np.median(lengths)) if lengths else 0.0,
        "us_per_position_layer": 1e6 * seconds / max(int(np.dot(lengths, layers)), 1),
    }
    return {**row, **paper_columns(entry, row["ms_per_seq"], row["us_per_position_layer"])}


def paper_columns(entry: Any, ms_per_seq: float, us_per_position_layer: float) -> dict[str, Any]:
    """The paper's time beside ours: per sequence (inputs differ in length and layers),
    and per position-layer (its median ms/seq over its median length x layers), which
    compares like with like."""
    name = paper_name(entry)
    paper_ms = PAPER_INTERP_MS.get(name) if name else None
    shape = PAPER_SHAPE.get(name) if name else None
    paper_us = None if paper_ms is None or shape is None else 1e3 * paper_ms / (shape[0] * shape[1])
    return {
        "paper_us_per_position_layer": paper_us,
        "speedup_per_position_layer": None
        if paper_us is None
        else paper_us / us_per_position_layer,
        "paper_program": name,
        "paper_ms_per_seq": paper_ms,
        "paper_median_length_and_layers": PAPER_SHAPE.get(name) if name else None,
        "speedup": None if paper_ms is None else paper_ms / ms_per_seq,
    }


def run_all(
    entries: Iterable[Any], batch: int, repeats: int, seed: int, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Measure every entry; a program that fails is reported, not fatal."""
    rows = []
    for entry in entries:
        log(f"  {entry.name} ...")
        try:
            rows.append(measure(entry, batch, repeats, seed))
        except Exception as exc:  # a broken program must not hide the others' numbers
            rows.append({"program": entry.name, "batch": batch, "error": repr(exc)})
    return rows


# --------------------------------------------------------------------------- reporting


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _shape(shape: Sequence[int] | None) -> str:
    return "–" if shape is None else f"{shape[0]}, {shape[1]}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        if "error" in r:
            cells = [r["program"], str(r["batch"]), f"error: {r['error']}"] + [""] * 11
        else:
            speedup = None if r["speedup"] is None else f"{r['speedup']:.1f}×"
            cells = [
                r["program"],
                str(r["batch"]),
                _fmt(r["median_length"]),
                _fmt(r["seq_per_s"]),
                _fmt(r["ms_per_seq"]),
                _fmt(r["median_layers"]),
                _fmt(r["ms_per_sequence_layer"]),
                _fmt(r["paper_program"]),
                _fmt(r["paper_ms_per_seq"]),
                _shape(r["paper_median_length_and_layers"]),
                _fmt(speedup),
                _fmt(r["us_per_position_layer"]),
                _fmt(r["paper_us_per_position_layer"]),
                _fmt(
                    None
                    if r["speedup_per_position_layer"] is None
                    else f"{r['speedup_per_position_layer']:.1f}×"
                ),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average_1_5_15_min": os.getloadavg(),  # other processes skew the times
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 32, one timed run")
    parser.add_argument(
        "--batch", type=int, default=None, help="sequences per batch (256; 64 with --paper)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (3; 5 with --paper)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--programs", nargs="*", default=None, help="only programs whose name contains one of these"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument(
        "--paper",
        metavar="CHECKOUT",
        default=None,
        help="time ours against the paper's interpreter (its code at CHECKOUT) instead",
    )
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the results' header
    return args


def main(argv: Sequence[str] | None = None, entries: Iterable[Any] | None = None) -> int:
    args = parse_args(argv)
    if args.paper:
        return paper_main(args)
    batch = args.batch or (32 if args.quick else 256)
    repeats = args.repeats or (1 if args.quick else 3)
    chosen = list(load_registry() if entries is None else entries)
    if args.programs:
        chosen = [e for e in chosen if any(p in e.name for p in args.programs)]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"interpreter benchmark: {len(chosen)} programs, batch {batch}, median of {repeats}")
    rows = run_all(chosen, batch, repeats, args.seed, log)
    print(table(rows))
    out = args.out or RESULTS_DIR / ("interpreter-quick.json" if args.quick else "interpreter.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "interpreter",
        "settings": {"batch": batch, "repeats": repeats, "seed": args.seed, "quick": args.quick},
        "machine": machine_info(),
        "paper_reference": "alta-measured.md run 2: paper code, one sequence at a time, "
        "2-vCPU Xeon VM",
        "results": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out}")
    return 1 if any("error" in r for r in rows) else 0


# --------------------------------------------------------------------------- --paper
# Ours against the paper's own interpreter, on this machine, on the paper's programs with
# Python-function MLPs. The paper's code runs in a second process (`alta.compat.paper`
# maps the `framework` package to alta, so the two cannot share one), kept alive so that
# its runs interleave with ours: load from other processes then hits both alike.

#: Name -> (module in the paper's examples/, builder, its keyword arguments, our
#: max_layers). The paper's interpreter runs max_layers + 1 layers, so it gets one less.
PAPER_PROGRAMS: dict[str, tuple[str, str, dict[str, Any], int | None]] = {
    "addition": ("addition", "build_program_spec", {}, None),
    "subleq": ("subleq", "build_program_spec", {}, None),
    "sort_unique": ("sort_unique", "build_program_spec", {}, 4),
    "parity_seq_abs": (
        "parity",
        "build_sequential_program_absolute",
        {"dynamic_halting": True, "generate_rules": False},
        None,
    ),
    "parity_seq_rel": (
        "parity",
        "build_sequential_program_relative",
        {"dynamic_halting": True, "generate_rules": False},
        None,
    ),
    "parity_sum_mod_2": ("parity", "build_sum_mod_2_program_spec", {"generate_rules": False}, 2),
}

#: What is timed, per program, in each round: (key, batched, with a fresh program).
PAPER_RUNS: tuple[tuple[str, bool, bool], ...] = (
    ("b1", False, False),
    ("b1_cold", False, True),
    ("b64", True, False),
    ("b64_cold", True, True),
)


def paper_build(name: str) -> Any:
    """Build the paper's program `name` with whatever `framework` is importable."""
    import importlib

    module, builder, kwargs, _ = PAPER_PROGRAMS[name]
    return getattr(importlib.import_module(f"examples.{module}"), builder)(**kwargs)


def paper_inputs(name: str, rng: Any, n: int) -> list[list[int]]:
    """`n` valid inputs for program `name`, shaped as the paper's tests draw them."""
    from examples import addition, subleq  # type: ignore[import-not-found]

    if name == "addition":
        return [
            addition.preprocess_input(rng.randint(0, 9999), rng.randint(0, 9999)) for _ in range(n)
        ]
    if name == "subleq":
        import importlib  # not `from paper_programs import`: mypy would check that file

        machines = importlib.import_module("paper_programs").subleq_inputs(rng, n)
        return [subleq.encode_inputs(mem) for mem in machines]
    if name == "sort_unique":
        return [[0, *rng.sample(range(1, 16), rng.randint(1, 12))] for _ in range(n)]
    bits = [[rng.randint(0, 1) for _ in range(rng.randint(1, 10))] for _ in range(n)]
    ends = {"parity_seq_rel": ([2], []), "parity_sum_mod_2": ([], [2])}.get(name, ([], []))
    return [ends[0] + b + ends[1] for b in bits]


def ours_pass(name: str, inputs: list[list[int]], program: Any, batched: bool) -> float:
    """Seconds for ours to run every input: as one batch, or one sequence at a time."""
    import alta

    max_layers = PAPER_PROGRAMS[name][3]
    start = time.perf_counter()
    if batched:
        alta.interpret(program, inputs, max_layers=max_layers)
    else:
        for x in inputs:
            alta.interpret(program, x, max_layers=max_layers)
    return time.perf_counter() - start


def paper_worker() -> int:
    """In a fresh process, the paper's interpreter: read the inputs (a JSON line), print
    the outputs (a JSON line), then for each program name read, print one pass's seconds
    (every input, one sequence at a time)."""
    spec = json.loads(sys.stdin.readline())
    assert "framework" not in sys.modules, "the paper's process must not load alta.compat"
    sys.path.insert(0, spec["checkout"])
    from framework.interpreter import interpreter_utils, program_utils  # type: ignore

    def run(name: str) -> list[Any]:
        program, ours = programs[name], PAPER_PROGRAMS[name][3]
        return [
            interpreter_utils.run_transformer(
                program,
                program_utils.initialize_activations(program, x),
                max_layers=None if ours is None else ours - 1,
            )
            for x in spec["cases"][name]
        ]

    programs = {name: paper_build(name) for name in spec["cases"]}
    print(json.dumps({name: run(name) for name in programs}), flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        run(line.strip())
        print(time.perf_counter() - start, flush=True)
    return 0


def paper_table(rows: Sequence[dict[str, Any]], batch: int) -> str:
    """The rows as markdown; the batched columns say their batch size."""
    columns = ["program", "median L", "median layers", "paper ms/seq"]
    for key, _, _ in PAPER_RUNS:
        label = key.replace("_", " ").replace("b64", f"b{batch}")
        columns += [f"ours {label} ms/seq", "speedup"]
    lines = ["| " + " | ".join([*columns, "outputs differ"]) + " |"]
    lines.append("|" + "---|" * (len(columns) + 1))
    for r in rows:
        cells = [r["program"], _fmt(r["median_length"]), _fmt(r["median_layers"])]
        cells.append(_fmt(r["paper_ms"]))
        for key, _, _ in PAPER_RUNS:
            cells += [_fmt(r[f"ours_{key}_ms"]), f"{r['paper_ms'] / r[f'ours_{key}_ms']:.1f}×"]
        cells.append(str(r["outputs_differ"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_main(args: argparse.Namespace) -> int:
    import random
    import subprocess

    import alta

    checkout = str(Path(args.paper).resolve())
    sys.path.insert(0, checkout)
    import alta.compat.paper  # the paper's `framework` imports now resolve to alta

    names = [n for n in PAPER_PROGRAMS if not args.programs or any(p in n for p in args.programs)]
    batch, repeats = args.batch or 64, args.repeats or 5
    cases = {n: paper_inputs(n, random.Random(args.seed), batch) for n in names}
    worker = subprocess.Popen(
        [sys.executable, __file__, "--paper-worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps({"checkout": checkout, "cases": cases}) + "\n")
    worker.stdin.flush()
    theirs = json.loads(worker.stdout.readline())
    rows = {}
    for name in names:
        program, inputs = paper_build(name), cases[name]
        ours = alta.interpret(program, inputs, max_layers=PAPER_PROGRAMS[name][3])
        layers = interp.run(program, inputs, max_layers=PAPER_PROGRAMS[name][3]).layers
        rows[name] = {
            "program": name,
            "batch": batch,
            "median_length": float(np.median([len(x) for x in inputs])),
            "median_layers": float(np.median(layers)),
            "outputs_differ": sum(a != b for a, b in zip(ours, theirs[name], strict=True)),
            "paper_runs_s": [],
            **{f"ours_{key}_runs_s": [] for key, _, _ in PAPER_RUNS},
            "warm_program": program,
        }
    for r in range(repeats):
        print(f"  round {r + 1} of {repeats} ...", file=sys.stderr, flush=True)
        for name in names:
            row = rows[name]
            worker.stdin.write(name + "\n")
            worker.stdin.flush()
            row["paper_runs_s"].append(float(worker.stdout.readline()))
            for key, batched, cold in PAPER_RUNS:
                program = paper_build(name) if cold else row["warm_program"]
                row[f"ours_{key}_runs_s"].append(ours_pass(name, cases[name], program, batched))
    worker.stdin.close()
    worker.wait()
    results = []
    for row in rows.values():
        del row["warm_program"]
        row["paper_ms"] = 1e3 * min(row["paper_runs_s"]) / batch
        for key, _, _ in PAPER_RUNS:
            row[f"ours_{key}_ms"] = 1e3 * min(row[f"ours_{key}_runs_s"]) / batch
        results.append(row)
    text = paper_table(results, batch)
    print(text)
    out = args.out or RESULTS_DIR / "interpreter-paper.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"batch": batch, "repeats": repeats, "seed": args.seed, "checkout": checkout}
    report = {"benchmark": "interpreter-paper", "settings": settings, "machine": machine_info()}
    out.write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    load = os.getloadavg()[0]
    command = shlex.join(["python", "benchmarks/interpreter.py", *args.argv])
    note = PAPER_NOTE.format(
        command=command, batch=batch, repeats=repeats, cpus=os.cpu_count(), load=load
    )
    out.with_suffix(".md").write_text(note + text + "\n")
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
    return 1 if any(r["outputs_differ"] for r in results) else 0


PAPER_NOTE = """# Interpreter: ours against the paper's, on one machine

`{command}` ({batch} inputs per program,
best of {repeats} rounds, one BLAS thread, {cpus} CPUs, load average {load:.1f} at the
end). **paper**: the paper's interpreter (`framework.interpreter.interpreter_utils.
run_transformer`, in its own process), one sequence at a time. **b1**: ours one sequence
at a time (which runs in plain Python, `alta/interp/single.py`); **b{batch}**: ours on
the whole batch (numpy).
**cold**: a freshly built program, whose function-MLP cache starts empty; otherwise the
cache is warm (the program has run these inputs before). Each round runs the paper's pass
and then ours, so that load from other processes hits both alike. **speedup** = paper
ms/seq ÷ ours. **outputs differ**: sequences whose output differs from the paper
interpreter's (must be 0).

"""


if __name__ == "__main__":
    if sys.argv[1:] == ["--paper-worker"]:
        sys.exit(paper_worker())
    sys.exit(main())
