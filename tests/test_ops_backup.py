"""Backups with point-in-time recovery (pgBackRest) on a throwaway cluster: a full backup,
edits, a bad replace import, then `geoportal db restore --to` the moment before it — the
layer equals what its history says it was then."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from throwaway_cluster import throwaway_cluster

from geoportal.db.backup import BackupError, Backups, parse_target
from geoportal.db.cluster import Cluster
from geoportal.db.migrate import upgrade
from geoportal.settings import Settings

pytestmark = pytest.mark.slow
ZONING = "SELECT id, version, code, plan_id, md5(ST_AsEWKB(geom)) FROM {} ORDER BY id"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A migrated throwaway cluster with a small demo data set."""
    from geoportal.demo.load import load_demo

    with throwaway_cluster() as cluster:
        upgrade(cluster.admin_url())
        load_demo(cluster.admin_url(), parcels=200, seed=42,
                  raster_dir=tmp_path_factory.mktemp("backup-rasters"))
        yield cluster


def cli(cluster: Cluster, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The real ``geoportal`` command, on the throwaway cluster's home and port."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GEOPORTAL_")}
    env.update({"GEOPORTAL_HOME": str(cluster.home), "GEOPORTAL_DB_PORT": str(cluster.port),
                "COLUMNS": "200", **settings})
    return subprocess.run([sys.executable, "-m", "geoportal.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def test_a_restore_target_is_read_with_its_offset_or_in_casablanca_time() -> None:
    assert parse_target("2026-03-07 14:03:00+01") == datetime(2026, 3, 7, 13, 3, tzinfo=UTC)
    assert parse_target("2026-01-10 14:03").utcoffset() is not None
    with pytest.raises(BackupError, match="ISO 8601"):
        parse_target("yesterday at 14:03")
    with pytest.raises(BackupError, match="not happened"):
        parse_target((datetime.now(UTC) + timedelta(hours=2)).isoformat())


def test_restore_before_any_backup_says_there_is_none(cluster: Cluster) -> None:
    refused = cli(cluster, "db", "restore", "--to", "2020-01-01 00:00:00+00", "--yes")
    assert refused.returncode == 1
    assert "geoportal db backup" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr


def bad_zoning_file(folder: Path, url: str) -> Path:
    """One zone for the whole layer: the wrong file, imported in replace mode."""
    plan_ref = rows(url, "SELECT ref FROM plans ORDER BY id LIMIT 1")[0][0]
    code = rows(url, "SELECT code FROM zone_rules ORDER BY plan_id, code LIMIT 1")[0][0]
    path = folder / "zonage-faux.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"ZONE": code, "plan_ref": plan_ref},
        "geometry": {"type": "Polygon", "coordinates": [[
            [-7.6321, 33.5921], [-7.6315, 33.5921], [-7.6315, 33.5926], [-7.6321, 33.5926],
            [-7.6321, 33.5921]]]}}]}))
    return path


def test_backup_edits_a_bad_import_then_restore_to_the_moment_before_it(
        cluster: Cluster, tmp_path: Path) -> None:
    url = cluster.admin_url()
    backup = cli(cluster, "db", "backup")
    assert backup.returncode == 0, backup.stderr + backup.stdout
    assert "backup" in backup.stdout
    listed = cli(cluster, "db", "backups", "--prometheus")
    assert "geoportal_backup_last_completed_timestamp_seconds" in listed.stdout

    with psycopg.connect(url) as conn:  # edits after the backup, by a named editor
        conn.execute("SELECT set_config('geoportal.actor', 'test:urbaniste', true)")
        conn.execute("UPDATE zoning SET geom = ST_Translate(geom, 5, 0) "
                     "WHERE id IN (SELECT id FROM zoning ORDER BY id LIMIT 3)")
    time.sleep(1.0)
    moment = rows(url, "SELECT clock_timestamp()")[0][0]
    time.sleep(1.0)
    bad = cli(cluster, "import", "zoning", str(bad_zoning_file(tmp_path, url)), "--as",
              "mauvais-fichier", "--mode", "replace", "--report", str(tmp_path / "r.csv"))
    assert bad.returncode == 0, bad.stderr + bad.stdout
    assert rows(url, "SELECT count(*) FROM zoning")[0][0] == 1
    then = rows(url, ZONING.format("zoning_as_of(%s)"), moment)
    assert len(then) > 1 and sum(1 for row in then if row[1] == 2) == 3

    restored = cli(cluster, "db", "restore", "--to", moment.isoformat(), "--yes")
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "restored" in restored.stdout
    print(backup.stdout, restored.stdout)  # what an operator sees (pytest -s)

    assert rows(url, ZONING.format("zoning")) == then
    assert rows(url, "SELECT count(*) FROM changesets WHERE actor LIKE %s",
                "%mauvais%") == [(0,)]
    assert rows(url, "SELECT pg_is_in_recovery()") == [(False,)]
    with psycopg.connect(url) as conn:  # writable again, and archiving on the new timeline
        conn.execute("SELECT set_config('geoportal.actor', 'test:apres', true)")
        conn.execute("UPDATE zoning SET geom = ST_Translate(geom, -5, 0) "
                     "WHERE id = (SELECT min(id) FROM zoning)")
    settings = Settings(home=cluster.home, db_port=cluster.port)
    assert Backups(settings, cluster).archiving_configured()


def test_after_a_restore_backups_go_on_incrementally_and_db_start_keeps_archiving(
        cluster: Cluster) -> None:
    before = Backups(Settings(home=cluster.home, db_port=cluster.port), cluster).list()
    assert before, "runs after the round trip above"
    incremental = cli(cluster, "db", "backup", "--type", "incr")
    assert incremental.returncode == 0, incremental.stderr + incremental.stdout
    sets = Backups(Settings(home=cluster.home, db_port=cluster.port), cluster).list()
    assert [s.kind for s in sets][-1] == "incr" and len(sets) == len(before) + 1
    started = cli(cluster, "db", "start", GEOPORTAL_BACKUP_ENABLED="true")
    assert started.returncode == 0, started.stderr + started.stdout
    assert "WAL archived" in started.stdout
    assert "restarting" not in started.stdout  # already archiving: no restart
    wrong = cli(cluster, "db", "backup", "--type", "weekly")
    assert wrong.returncode == 1 and "full, incr or diff" in wrong.stderr
