"""SCAN at full scale (the suite lives in `alta.bench.scan`; `alta bench scan` runs it too).

    python benchmarks/scan.py [--limit N] [--backend B ...]

Writes benchmarks/results/scan[-N].{md,json}.
"""

from pathlib import Path

from alta.bench import scan

if __name__ == "__main__":
    raise SystemExit(scan.main(prog="benchmarks/scan.py", out=Path(__file__).parent / "results"))
