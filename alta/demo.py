"""`make demo`: run the program library through the interpreter and every installed backend.

For each program: the interpreter's accuracy against the task's plain-Python reference,
then for each backend whether the compiled model agrees with the interpreter at every
position, with the model's sizes. Exits non-zero if anything disagrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

import alta
from alta import interp, programs
from alta.backends import base
from alta.errors import AltaError


def _row(case: programs.ProgramCase, n: int, backends: list[str], pipeline: str) -> dict[str, Any]:
    program = case.build()
    inputs = [list(x) for x in case.generate(np.random.default_rng(0), n)]
    inputs += [list(x) for x in case.edge_inputs]
    start = time.perf_counter()
    result = interp.run(program, inputs, case.max_layers)
    elapsed = time.perf_counter() - start
    correct = sum(case.check(x, y) for x, y in zip(inputs, result.outputs, strict=True))
    row: dict[str, Any] = {
        "program": case.name,
        "inputs": len(inputs),
        "correct": correct / len(inputs),
        "layers": float(np.median(result.layers)),
        "ms_per_seq": 1e3 * elapsed / len(inputs),
    }
    for name in backends:
        try:
            start = time.perf_counter()
            model = alta.compile(
                program, backend=name, pipeline=pipeline, max_layers=case.max_layers
            )
            row[f"compile_s.{name}"] = time.perf_counter() - start
            outputs = model(inputs)
            row[f"agree.{name}"] = sum(
                a == b for a, b in zip(outputs, result.outputs, strict=True)
            ) / len(inputs)
            row["stats"] = model.stats
        except AltaError as exc:
            row[f"agree.{name}"] = f"error: {exc}"
    return row


def _table(rows: list[dict[str, Any]], backends: list[str]) -> str:
    head = ["program", "inputs", "interp correct", "layers", "interp ms/seq"]
    head += [f"{b} agrees" for b in backends] + ["rules", "d_model", "mlp", "params"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        stats = r.get("stats", {})
        cells = [
            r["program"],
            str(r["inputs"]),
            f"{r['correct']:.0%}",
            f"{r['layers']:g}",
            f"{r['ms_per_seq']:.3f}",
        ]
        for b in backends:
            agree = r.get(f"agree.{b}")
            cells.append(f"{agree:.0%}" if isinstance(agree, float) else str(agree)[:60])
        cells += [str(stats.get(k, "-")) for k in ("rules", "d_model", "mlp_widths", "params")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100, help="random inputs per program")
    parser.add_argument("--programs", nargs="*", default=None)
    parser.add_argument("--backends", nargs="*", default=None)
    parser.add_argument("--pipeline", default="default")
    args = parser.parse_args(argv)
    backends = args.backends or base.available()
    names = args.programs or programs.names()
    print(f"alta demo: {len(names)} programs, backends: {', '.join(backends)}", flush=True)
    rows = []
    for name in names:
        print(f"  {name} ...", flush=True)
        rows.append(_row(programs.get(name), args.n, backends, args.pipeline))
    print(_table(rows, backends))
    ok = all(
        r["correct"] == 1.0 and all(r.get(f"agree.{b}") == 1.0 for b in backends) for r in rows
    )
    print("all programs correct and all backends agree" if ok else "MISMATCHES: see the table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
