"""Offline data set generators: each data set is built from its own definition (a grammar
and its semantics), so nothing is downloaded and every count can be checked in a test.

    from alta.data import scan
    scan.commands()                      # all 20,910 SCAN commands with their actions
    scan.split("length")                 # train/test pairs of a standard split
    scan.write_jsonl(scan.split("length"), "out/")

`alta data scan --split NAME --out DIR` writes a split from the command line.
"""

from __future__ import annotations
