"""SCAN at full scale: `alta.programs.scan` on every command of the grammar.

    alta bench scan [--limit N] [--backend B ...] [--batch B] [--out DIR]
    python benchmarks/scan.py ...          (the same, writing to benchmarks/results/)

1. The interpreter on every command (20,910, or the first `--limit` of a seeded shuffle)
   against the grammar's own interpretation (`alta.data.scan.interpret`): correct count,
   layers (min / median / max) and commands per second.
2. Sizes after the default pipeline (rules, MLP widths, d_model, parameters, nonzeros,
   compile time) beside the paper's SCAN program.
3. Each compiled backend on the same commands, against the interpreter's outputs:
   mismatches and commands per second.

Writes DIR/scan[-limit].{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import alta
from alta import interp, programs
from alta.backends import base
from alta.bench.options import positive, results_folder
from alta.data import scan as data
from alta.programs import scan_task

DEFAULT_OUT = Path("bench-results")
#: The paper's SCAN program (reference notes on its code, measured on this kind of machine).
PAPER = {"rules": 70_792, "d_model": 2_014, "params": 300_000_000, "s_per_layer_cmd": 0.8}


def main(
    argv: Sequence[str] | None = None, prog: str = "alta bench scan", out: Path = DEFAULT_OUT
) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=positive, default=None, help="commands (default: all)")
    parser.add_argument("--backend", nargs="*", default=None, help="default: torch if installed")
    parser.add_argument("--batch", type=positive, default=500, help="commands per batch")
    parser.add_argument("--seed", type=int, default=0, help="order of the commands")
    parser.add_argument("--out", type=Path, default=out, help=f"results folder (default: {out})")
    args = parser.parse_args(list(argv) if argv is not None else None)
    names = args.backend if args.backend is not None else _default_backends()
    for name in names:  # an unknown or missing backend fails now, not after the interpreter
        base.get(name)
    results_folder(args.out)
    commands = _commands(args.limit, args.seed)
    inputs = [scan_task.encode(c) for c in commands]
    program = programs.get("scan").build()

    report: dict[str, Any] = {"machine": _machine(), "commands": len(commands)}
    report["interpreter"], wanted = _interpret(program, commands, inputs, args.batch)
    report["backends"] = [_compiled(program, name, inputs, wanted, args.batch) for name in names]
    report["paper"] = PAPER
    text = _table(report)
    print(text)
    stem = "scan" if args.limit is None else f"scan-{len(commands)}"
    (args.out / f"{stem}.md").write_text(text + "\n")
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _commands(limit: int | None, seed: int) -> list[str]:
    texts = [c.text for c in data.commands()]
    if limit is None or limit >= len(texts):
        return texts
    order = np.random.default_rng(seed).permutation(len(texts))[:limit]
    return [texts[i] for i in sorted(order)]


def _batches(n: int, size: int, what: str) -> Iterator[tuple[int, int]]:
    """Batch bounds, with a progress bar on a terminal (rich, when installed)."""
    bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
    try:
        from rich.progress import track
    except ImportError:
        yield from bounds
        return
    yield from track(bounds, description=what, transient=True, disable=not _tty())


def _tty() -> bool:
    import sys

    return sys.stderr.isatty()


def _interpret(
    program: alta.Program, commands: list[str], inputs: list[list[int]], batch: int
) -> tuple[dict[str, Any], list[list[Any]]]:
    outputs: list[list[Any]] = []
    layers: list[int] = []
    start = time.perf_counter()
    for a, b in _batches(len(inputs), batch, "interpreter"):
        run = interp.run(program, inputs[a:b])
        outputs += run.outputs
        layers += [int(x) for x in run.layers]
    seconds = time.perf_counter() - start
    wrong = [
        c
        for c, o in zip(commands, outputs, strict=True)
        if scan_task.decode(o) != data.interpret(c)
    ]
    return {
        "correct": len(commands) - len(wrong),
        "wrong": wrong[:10],
        "layers_min": min(layers),
        "layers_median": statistics.median(layers),
        "layers_max": max(layers),
        "seconds": round(seconds, 2),
        "commands_per_s": round(len(commands) / seconds, 1),
    }, outputs


def _compiled(
    program: alta.Program, name: str, inputs: list[list[int]], wanted: list[list[Any]], batch: int
) -> dict[str, Any]:
    start = time.perf_counter()
    model = alta.compile(program, backend=name)
    compile_s = time.perf_counter() - start
    mismatches = 0
    start = time.perf_counter()
    for a, b in _batches(len(inputs), batch, name):
        got = model(inputs[a:b])
        mismatches += sum(g != w for g, w in zip(got, wanted[a:b], strict=True))
    seconds = time.perf_counter() - start
    stats = model.stats
    return {
        "backend": name,
        "compile_s": round(compile_s, 2),
        "rules": stats["rules"],
        "mlp_widths": stats["mlp_widths"],
        "d_model": stats["d_model"],
        "params": stats["params"],
        "nonzeros": stats["nonzeros"],
        "mismatches": int(mismatches),
        "seconds": round(seconds, 2),
        "commands_per_s": round(len(inputs) / seconds, 1),
    }


def _default_backends() -> list[str]:
    return ["torch"] if "torch" in base.available() else ["numpy"]


def _table(report: dict[str, Any]) -> str:
    it = report["interpreter"]
    lines = [
        f"# SCAN, {report['commands']} commands ({report['machine']})",
        "",
        f"Interpreter: {it['correct']} / {report['commands']} correct; layers "
        f"{it['layers_min']} / {it['layers_median']} / {it['layers_max']} (min / median / "
        f"max); {it['seconds']} s, {it['commands_per_s']} commands/s.",
        "",
        "| backend | rules | MLP widths | d_model | params | nonzeros | compile s | "
        "mismatches | commands/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["backends"]:
        lines.append(
            f"| {row['backend']} | {row['rules']:,} | {row['mlp_widths']} | {row['d_model']} | "
            f"{row['params']:,} | {row['nonzeros']:,} | {row['compile_s']} | "
            f"{row['mismatches']} | {row['commands_per_s']} |"
        )
    paper = report["paper"]
    lines.append(
        f"| paper's program | {paper['rules']:,} | | {paper['d_model']:,} | "
        f"{paper['params']:,} | | | | ~{paper['s_per_layer_cmd']} s per layer per command |"
    )
    return "\n".join(lines)


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
