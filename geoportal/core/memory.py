"""The garbage collector and long-lived processes: what start-up built is frozen once.

A process that builds a large, long-lived set of objects at start (modules, routes, schemas,
fonts, pygeoapi) pays for it again at every full collection of the cyclic garbage collector,
which walks every tracked object with the process stopped. Freezing them after start-up moves
them out of its sight for good.
"""

from __future__ import annotations

import gc


def freeze_start_up_objects(threshold: tuple[int, int, int] | None = None) -> bool:
    """Collect, then freeze what is alive (once per process: a later call does nothing, so
    that a test session building many apps does not freeze the garbage of the others);
    ``threshold``: the collector's thresholds from now on. Whether this call froze."""
    if threshold is not None:
        gc.set_threshold(*threshold)
    if gc.get_freeze_count() > 0:
        return False
    gc.collect()
    gc.freeze()
    return True
