"""The paper's own example programs, unchanged, through `import alta.compat.paper`.

Needs a checkout of the paper's public code (google-deepmind/alta), which this repo does not
ship; the programs are imported from it as a user would. For each of sort_unique, SUBLEQ
(Python-function and rule forms) and the SCAN rule program: build, interpret random valid
inputs and check them against plain-Python references written here, compile with the
default pipeline (recording the CompileWarnings), run every installed backend on the same
inputs and count disagreements with the interpreter. Prints a table, writes JSON.

    python benchmarks/paper_programs.py --checkout /path/to/alta-paper [--scan 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import alta
from alta.backends import base

# --------------------------------------------------------------------------- references


def subleq_reference(mem: list[int], max_steps: int = 40) -> list[int] | None:
    """SUBLEQ as the paper's program runs it (c is read after mem[b] is written), or None
    when a run leaves the machine's ranges or does not stop within max_steps."""
    mem, pc = list(mem), 0
    for _ in range(max_steps):
        if pc + 2 >= len(mem):
            return None
        a, b = mem[pc], mem[pc + 1]
        if a < 0 or b < 0:
            return mem
        if a >= len(mem) or b >= len(mem):
            return None
        mem[b] -= mem[a]
        if not -16 <= mem[b] <= 16:
            return None
        c = mem[pc + 2]
        if mem[b] > 0:
            pc += 3
        elif c < 0:
            return mem
        else:
            pc = c
    return None


def subleq_inputs(rng: random.Random, n: int) -> list[list[int]]:
    """Random machines whose run stays in range and stops (addresses first, then data)."""
    out: list[list[int]] = []
    while len(out) < n:
        mem = [rng.randint(-2, 15) for _ in range(9)] + [rng.randint(-16, 16) for _ in range(7)]
        if subleq_reference(mem) is not None:
            out.append(mem)
    return out


def scan_reference(words: list[str]) -> list[str]:
    """SCAN's interpretation: `and` and `after` join, `twice`/`thrice` repeat, and
    `opposite`/`around` turn."""
    for joiner, swap in (("and", False), ("after", True)):
        if joiner in words:
            i = words.index(joiner)
            left, right = scan_reference(words[:i]), scan_reference(words[i + 1 :])
            return right + left if swap else left + right
    repeat = {"twice": 2, "thrice": 3}.get(words[-1])
    if repeat:
        return scan_reference(words[:-1]) * repeat
    if len(words) == 1:
        return [words[0].upper()]
    act = [] if words[0] == "turn" else [words[0].upper()]
    turn = ["LTURN" if words[-1] == "left" else "RTURN"]
    if len(words) == 2:
        return turn + act
    return turn * 2 + act if words[1] == "opposite" else (turn + act) * 4


def scan_command(rng: random.Random) -> str:
    """A random command of SCAN's grammar."""

    def v() -> str:
        x = rng.choice(["walk", "run", "jump", "look", "turn"])
        if x != "turn" and rng.random() < 0.25:
            return x
        return f"{x} {rng.choice(['', 'opposite ', 'around '])}{rng.choice(['left', 'right'])}"

    def s() -> str:
        return v() + rng.choice(["", " twice", " thrice"])

    return s() + rng.choice(["", f" and {s()}", f" after {s()}"])


# --------------------------------------------------------------------------- cases


def cases(args: argparse.Namespace, rng: random.Random) -> list[dict[str, Any]]:
    from examples import sort_unique, subleq  # type: ignore[import-not-found]
    from examples.scan import scan_sparse_program, scan_utils  # type: ignore[import-not-found]

    sorts = []
    for _ in range(args.n):
        tokens = rng.sample(range(1, 16), rng.randint(1, 12))
        sorts.append(([0, *tokens], [0, *sorted(tokens)]))
    machines = [
        (subleq.encode_inputs(mem), subleq_reference(mem)) for mem in subleq_inputs(rng, args.n)
    ]
    commands = sorted({scan_command(rng) for _ in range(200)}, key=len)[: args.scan]
    scans = [(scan_utils.input_string_to_input_ids(c), scan_reference(c.split())) for c in commands]
    return [
        dict(
            name="sort_unique",
            build=sort_unique.build_program_spec,
            inputs=sorts,
            max_layers=4,
            decode=lambda out: out,
        ),
        dict(
            name="subleq (function)",
            build=subleq.build_program_spec,
            inputs=machines,
            max_layers=None,
            decode=subleq.decode_outputs,
        ),
        dict(
            name="subleq (rules)",
            build=subleq.build_program_spec_sparse,
            inputs=machines,
            max_layers=None,
            decode=subleq.decode_outputs,
        ),
        dict(
            name="scan (rules)",
            build=scan_sparse_program.build_program_spec,
            inputs=scans,
            max_layers=args.scan_layers,
            decode=scan_utils.decode_output,
        ),
    ]


def run_case(case: dict[str, Any], backends: list[str]) -> dict[str, Any]:
    xs = [x for x, _ in case["inputs"]]
    decode: Callable[[list[Any]], Any] = case["decode"]
    start = time.perf_counter()
    program = case["build"]()
    built = time.perf_counter() - start
    start = time.perf_counter()
    interpreted = alta.interpret(program, xs, max_layers=case["max_layers"])
    row: dict[str, Any] = {
        "program": case["name"],
        "inputs": len(xs),
        "build_s": built,
        "interpret_s": time.perf_counter() - start,
        "interpreter_vs_reference": sum(
            decode(o) == want for o, (_, want) in zip(interpreted, case["inputs"], strict=True)
        ),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", alta.CompileWarning)
        start = time.perf_counter()
        model = alta.compile(program, max_layers=case["max_layers"])
        row["compile_s"] = time.perf_counter() - start
    row["warnings"] = [str(w.message).split("; ")[0] for w in caught]
    row.update({k: model.stats[k] for k in ("rules", "d_model", "mlp_widths", "params")})
    for backend in backends:
        if backend != "numpy":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", alta.CompileWarning)
                model = alta.compile(program, backend=backend, max_layers=case["max_layers"])
        start = time.perf_counter()
        got = model(xs, allow_unhalted=case["max_layers"] is not None)
        row[f"{backend}_s"] = time.perf_counter() - start
        row[f"{backend}_mismatches"] = sum(g != e for g, e in zip(got, interpreted, strict=True))
        print(f"  {case['name']}: {backend} done", file=sys.stderr, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, help="a checkout of the paper's code")
    parser.add_argument("--n", type=int, default=40, help="inputs per program (not SCAN)")
    parser.add_argument("--scan", type=int, default=2, help="SCAN commands (shortest first)")
    parser.add_argument("--scan-layers", type=int, default=128)
    parser.add_argument("--backends", nargs="*", default=base.available())
    parser.add_argument("--only", nargs="*", help="program names to run")
    parser.add_argument("--out", default="benchmarks/results/paper-programs.json")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.checkout).resolve()))
    import alta.compat.paper  # noqa: F401  (the paper's `framework` imports resolve to alta)

    rows = []
    for case in cases(args, random.Random(0)):
        if args.only and case["name"] not in args.only:
            continue
        print(f"{case['name']} ...", file=sys.stderr, flush=True)
        rows.append(run_case(case, args.backends))
    keys = ["program", "inputs", "interpreter_vs_reference", "rules", "d_model", "mlp_widths"]
    keys += ["params", "compile_s"] + [f"{b}_mismatches" for b in args.backends]
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    for row in rows:
        for warning in row["warnings"]:
            print(f"- {row['program']}: {warning}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1, default=str))


def _fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
