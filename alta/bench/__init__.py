"""Benchmark suites `alta bench` runs: they print tables and write JSON and markdown.

    alta bench [backends] [--quick] [--device cpu|cuda] [--out DIR]   backend throughput
    alta bench scan [--limit N] [--backend B] [--out DIR]            SCAN at full scale

Results go to `--out` (default `bench-results/` in the current directory, so a run never
rewrites tracked files); the scripts in the checkout's `benchmarks/` write to
`benchmarks/results/`.
"""

from __future__ import annotations

SUITES = ("backends", "scan")


def main(argv: list[str] | None = None) -> int:
    """Run the suite named first in `argv` (default: backends)."""
    args = list(argv or [])
    name = args.pop(0) if args and args[0] in SUITES else "backends"
    if name == "scan":
        from alta.bench import scan

        return scan.main(args)
    from alta.bench import backends

    return backends.main(args)
