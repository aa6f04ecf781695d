"""Backend throughput (the suite lives in `alta.bench`; `alta bench` runs it too).

    python benchmarks/backends.py [--quick] [--device cpu|cuda] [--programs ...]

Writes benchmarks/results/backends-<device>[-quick].{md,json}.
"""

from pathlib import Path

from alta.bench import backends as bench

if __name__ == "__main__":
    raise SystemExit(
        bench.main(prog="benchmarks/backends.py", out=Path(__file__).parent / "results")
    )
