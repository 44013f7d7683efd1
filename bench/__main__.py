"""`make bench`: every benchmark in one run, printing comparison tables."""

from __future__ import annotations

import importlib
import sys

from bench.common import RESULTS

SUITES = ["bench.features", "bench.rules", "bench.tiles", "bench.ingest"]


def main(argv: list[str]) -> None:
    """Run the named suites (all by default), one after the other."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text("")
    for name in argv or SUITES:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
