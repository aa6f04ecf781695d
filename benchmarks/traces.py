"""Streaming trace extraction: records/s and peak memory while 10^5 sequences go to disk.

Usage (from the repository root):

    python benchmarks/traces.py                   # 10^4 and 10^5 parity sequences
    python benchmarks/traces.py --sizes 1000      # a smoke test

Each size runs in a fresh process (peak RSS, `resource.getrusage`, only ever grows within
one), tracing `--program` (default parity_sequential_relative, START then at most
`--max-length` bits) with `alta.traces.write` into a temporary directory that is deleted
afterwards. Inputs come from a generator, so neither inputs nor traces sit in memory:
peak RSS should not grow with the number of sequences. Writes JSON to
benchmarks/results/traces.json and a table to benchmarks/results/traces.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def inputs(program: str, n: int, max_length: int, seed: int) -> Iterator[list[int]]:
    """`n` inputs from the program's generator, drawn 1024 at a time."""
    from alta import programs

    generate = programs.get(program).generate
    rng = np.random.default_rng(seed)
    for start in range(0, n, 1024):
        yield from generate(rng, min(1024, n - start), max_length)  # type: ignore[call-arg]


def child(ns: argparse.Namespace) -> dict[str, Any]:
    """One measured run, in this process."""
    import alta
    from alta import programs, traces

    program = programs.get(ns.program).build()
    model = alta.compile(program, backend="numpy")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="alta-traces-") as out:
        start = time.perf_counter()
        manifest = traces.write(
            program,
            inputs(ns.program, ns.sequences, ns.max_length, ns.seed),
            out,
            model=model,
            batch_size=ns.batch_size,
            shard_records=ns.shard_records,
        )
        seconds = time.perf_counter() - start
        disk = sum(f.stat().st_size for f in Path(out).iterdir())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "program": ns.program,
        "sequences": manifest["sequences"],
        "records": manifest["records"],
        "shards": len(manifest["shards"]),
        "d_model": manifest["d_model"],
        "seconds": round(seconds, 2),
        "records_per_s": round(manifest["records"] / seconds),
        "sequences_per_s": round(manifest["sequences"] / seconds),
        "disk_mb": round(disk / 2**20, 1),
        "rss_after_compile_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
    }


def table(rows: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    head = ["sequences", "records", "shards", "s", "records/s", "seq/s", "disk MB", "peak RSS MB"]
    keys = ["sequences", "records", "shards", "seconds", "records_per_s", "sequences_per_s"]
    lines = [
        f"# Trace streaming ({platform.node() or 'machine'}, {time.strftime('%Y-%m-%d')})",
        "",
        f"`alta.traces.write`, program `{settings['program']}` (d_model "
        f"{rows[0]['d_model'] if rows else '?'}), inputs of at most {settings['max_length']} "
        f"bits, batch {settings['batch_size']}, shards of {settings['shard_records']} records; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one BLAS thread.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---:|" * len(head),
    ]
    for r in rows:
        cells = [f"{r[k]:,}" for k in keys] + [str(r["disk_mb"]), str(r["peak_rss_mb"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--program", default="parity_sequential_relative")
    parser.add_argument("--max-length", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--shard-records", type=int, default=1 << 18)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sequences", type=int, help=argparse.SUPPRESS)  # the child's size
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "traces.json")
    ns = parser.parse_args(argv)
    if ns.sequences is not None:
        print(json.dumps(child(ns)))
        return 0
    settings = {
        k: getattr(ns, k) for k in ("program", "max_length", "batch_size", "shard_records", "seed")
    }
    rows = []
    for n in ns.sizes:
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
        done = subprocess.run(
            [sys.executable, __file__, f"--sequences={n}", *flags],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr)
    md = table(rows, settings)
    print(md)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(
        json.dumps(
            {"benchmark": "traces", "settings": settings, "machine": machine, "results": rows},
            indent=2,
        )
        + "\n"
    )
    ns.out.with_suffix(".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
