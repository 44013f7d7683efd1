"""`make bench`: every benchmark in one run, printing comparison tables.

``python -m bench resilience --seconds 15 --parcels 20000``: options after the suite names go
to the suites whose ``main`` takes them.
"""

from __future__ import annotations

import importlib
import inspect
import sys

from bench.common import RESULTS

SUITES = ["bench.features", "bench.rules", "bench.tiles", "bench.ingest", "bench.edits",
          "bench.resilience", "bench.notes", "bench.envelope", "bench.failover", "bench.scaling"]


def main(argv: list[str]) -> None:
    """Run the named suites (all by default), one after the other."""
    first_option = next((n for n, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:first_option], argv[first_option:]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text("")
    for name in names or SUITES:
        module = importlib.import_module(name if "." in name else f"bench.{name}")
        if inspect.signature(module.main).parameters:
            module.main(options)
        else:
            module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
