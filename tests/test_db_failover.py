"""Automatic failover: the primary is SIGKILLed during a stream of edits and reads; the standby
is promoted by pg_auto_failover, the service follows without a restart, every acknowledged edit
is there afterwards, and clients saw only 2xx (or a concurrent edit's 409/412) or 503 with
Retry-After meanwhile, reads flowing from the standby.

The same drill as ``python -m bench failover`` (one round here): the topology of
``geoportal db start --ha`` in a throwaway folder, the real service under uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.failover import Stage, failover_round, stage
from geoportal.db.ha import NODES, keeper_settings, monitor_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    log = Path(tmp_path_factory.mktemp("failover")) / "uvicorn.log"
    with stage(log=log) as ready:
        yield ready


def test_the_topology_replicates_synchronously_to_the_standby(staged: Stage) -> None:
    primary = staged.ha.primary()
    assert primary is not None
    with psycopg.connect(staged.ha.writer_url()) as conn:
        names, commit = conn.execute("SELECT current_setting('synchronous_standby_names'), "
                                     "current_setting('synchronous_commit')").fetchone() or ("", "")
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    with psycopg.connect(staged.ha.replica_url()) as conn:
        standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert names.startswith("ANY 1"), names
    assert commit == "on"
    assert in_recovery == (False,)
    assert standby == (True,), "prefer-standby reads should reach the standby"


def test_the_monitor_and_the_keepers_run_the_timeouts_of_the_set_up_files(
        staged: Stage) -> None:
    """geoportal/db/sql/ha-monitor.sql and ha-keeper.conf, applied: what the drill below
    measures is what they say (and what the production images run)."""
    wanted = monitor_settings()
    with psycopg.connect(staged.ha.monitor_url()) as conn:
        live = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                 (list(wanted),)).fetchall())
    assert live == wanted
    for node in NODES:
        for key, value in keeper_settings().items():
            assert staged.ha.keeper_setting(node, key) == value, (node, key)


def test_a_killed_primary_is_replaced_and_no_acknowledged_edit_is_lost(staged: Stage) -> None:
    result = failover_round(staged.ha, staged.base, staged.key, staged.parcel_ids,
                            staged.admin_url, number=1)
    print(f"\n{result.old_primary} → {result.new_primary}: writes back after "
          f"{result.write_gap_s:.1f} s, reads {result.reads_ok}/{result.reads_in_window} in the "
          f"window, {result.acked} edits acknowledged, unexpected {dict(result.unexpected)}")
    assert result.new_primary != result.old_primary
    assert result.acked > 0
    assert result.lost == []
    assert not result.unexpected, result.unexpected
    assert result.reads_ok > 0, "no read was served while the primary was gone"


def test_db_status_shows_the_topology_as_the_monitor_sees_it(staged: Stage) -> None:
    """`geoportal db status` (the real command) on the same state folder: the monitor and
    both nodes, the primary named as the monitor knows it."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GEOPORTAL_") or key == "GEOPORTAL_TEST_DB_PREFIX"}
    env["GEOPORTAL_HOME"] = str(staged.ha.home)  # the state folder: ha.json, the ports
    shown = subprocess.run([sys.executable, "-m", "geoportal.cli", "db", "status"], env=env,
                           capture_output=True, text=True, timeout=120, check=True).stdout
    primary = staged.ha.primary()
    assert primary is not None
    assert "(pg_auto_failover)" in shown
    lines = [line.strip() for line in shown.splitlines()]
    assert any(line.startswith(f"{primary} on 127.0.0.1:") and ": primary (" in line
               for line in lines), shown
    assert sum(1 for line in lines if ": standby (" in line) == 1, shown
