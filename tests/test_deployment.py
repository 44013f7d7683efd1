"""The deployment files agree with the project: what they copy exists, what they wire is right.

Docker cannot run here, so these checks read the files; they fail when a path, a service or
a variable drifts from the code.
"""

from __future__ import annotations

import re

import yaml

from geoportal.core.resources import CHECKOUT
from geoportal.settings import Settings


def test_every_path_the_dockerfile_copies_exists() -> None:
    dockerfile = (CHECKOUT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE)
    sources = [src for line in copies for src in line.split()]
    assert {"geoportal", "layers", "migrations", "pygeoapi-config.yml"} <= set(sources)
    assert "pip install -e" not in dockerfile  # a wheel install: no checkout at run time
    for source in sources:
        assert (CHECKOUT / source).exists(), source


def test_the_dockerfile_settings_are_real_settings() -> None:
    dockerfile = (CHECKOUT / "Dockerfile").read_text()
    names = set(re.findall(r"GEOPORTAL_([A-Z_]+)=", dockerfile)) - {"WORKERS"}
    fields = {name.upper() for name in Settings.model_fields}
    assert names and names <= fields


def test_compose_wires_the_app_to_a_healthy_postgis() -> None:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    db, app = compose["services"]["db"], compose["services"]["app"]
    assert "postgis" in db["image"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "@db:5432/" in app["environment"]["GEOPORTAL_DATABASE_URL"]
    assert app["build"] == "."
    assert any(port.endswith(":8000") for port in app["ports"])


def test_compose_puts_nginx_before_every_app_instance_and_trusts_only_it() -> None:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    nginx = (CHECKOUT / "deploy" / "nginx.conf").read_text()
    upstreams = set(re.findall(r"^\s*server (\S+) max_fails", nginx, flags=re.MULTILINE))
    apps = {name for name, service in services.items()
            if service.get("build") == "." and not service.get("profiles")}
    assert upstreams == {f"{name}:8000" for name in apps} and len(apps) >= 2
    proxy_ip = proxy["networks"]["front"]["ipv4_address"]
    for name in apps:
        assert services[name]["environment"]["GEOPORTAL_FORWARDED_ALLOW_IPS"] == proxy_ip


def test_compose_archives_the_database_wal_with_the_mounted_pgbackrest_config() -> None:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    db = compose["services"]["db"]
    assert "./deploy/pgbackrest.conf:/etc/pgbackrest/pgbackrest.conf:ro" in db["volumes"]
    config = (CHECKOUT / "deploy" / "pgbackrest.conf").read_text()
    stanza = re.findall(r"^\[(\w+)\]$", config, flags=re.MULTILINE)[-1]
    assert "archive_mode=on" in db["command"]
    assert f"pgbackrest --stanza={stanza} archive-push %p" in db["command"]
    assert (CHECKOUT / db["build"]["context"] / db["build"]["dockerfile"]).exists()


def _ha_services() -> dict[str, dict[str, object]]:
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    return {name: service for name, service in compose["services"].items()
            if "ha" in service.get("profiles", [])}


def test_compose_ha_profile_has_a_monitor_two_nodes_two_apps_and_nginx() -> None:
    services = _ha_services()
    assert {"monitor", "pg1", "pg2", "ha-app1", "ha-app2", "nginx", "migrate"} <= set(services)
    for name in ("monitor", "pg1", "pg2"):
        assert services[name]["build"] == {"context": ".",
                                           "dockerfile": "deploy/pg_auto_failover/Dockerfile"}
    dockerfile = (CHECKOUT / "deploy/pg_auto_failover/Dockerfile").read_text()
    assert "postgresql-15-auto-failover" in dockerfile
    assert services["monitor"]["command"] == ["monitor"]
    assert services["pg1"]["command"] == services["pg2"]["command"] == ["node"]
    assert services["pg1"]["hostname"] == "pg1" and services["pg2"]["hostname"] == "pg2"
    volumes = services["nginx"]["volumes"]
    assert isinstance(volumes, list)
    assert any(str(v).startswith("./deploy/nginx-ha.conf:") for v in volumes)
    assert set(services["nginx"]["depends_on"]) == {"ha-app1", "ha-app2"}  # type: ignore[arg-type]
    upstreams = re.findall(r"^\s*server (\S+) max_fails",
                           (CHECKOUT / "deploy" / "nginx-ha.conf").read_text(), flags=re.MULTILINE)
    assert set(upstreams) == {"ha-app1:8000", "ha-app2:8000"}


def test_compose_ha_apps_write_to_the_primary_and_read_from_the_standby() -> None:
    services = _ha_services()
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("ha-app1", "ha-app2", "migrate"):
        env = services[name]["environment"]
        assert isinstance(env, dict)
        assert {key.removeprefix("GEOPORTAL_") for key in env} <= fields
        for key in ("GEOPORTAL_DATABASE_URL", "GEOPORTAL_WRITE_DATABASE_URL",
                    "GEOPORTAL_ADMIN_DATABASE_URL"):
            assert "@pg1:5432,pg2:5432/geoportal" in env[key]
            assert env[key].endswith("target_session_attrs=read-write"), key
        replicas = env["GEOPORTAL_REPLICA_URLS"]
        assert "@pg1:5432,pg2:5432/" in replicas and "prefer-standby" in replicas
        assert "geoportal_writer" in env["GEOPORTAL_WRITE_DATABASE_URL"]
    assert "serve" in str(services["ha-app1"]["command"])


def test_the_ha_nodes_set_up_the_roles_from_the_private_cluster_s_own_scripts() -> None:
    """One source of truth: the image copies geoportal/db/sql (the files `db start` and
    `db start --ha` run) and its entrypoint runs them; it repeats none of their statements."""
    from geoportal.db import cluster, ha

    dockerfile = (CHECKOUT / "deploy/pg_auto_failover/Dockerfile").read_text()
    copied = [src for line in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE)
              for src in line.split()]
    for source in copied:  # built from the checkout (compose: context .)
        assert (CHECKOUT / source).is_file(), source
    scripts = {"roles.sql": cluster.ROLES_SQL, "schema.sql": cluster.SCHEMA_SQL,
               "database.sql": cluster.DATABASE_SQL, "ha-monitor.sql": ha.MONITOR_SQL,
               "ha-keeper.conf": ha.KEEPER_CONF}
    for name, text in scripts.items():
        assert f"geoportal/db/sql/{name}" in copied, name
        assert (CHECKOUT / "geoportal/db/sql" / name).read_text() == text
    entrypoint = (CHECKOUT / "deploy/pg_auto_failover/entrypoint.sh").read_text()
    for name in scripts:
        assert f'"$sql/{name}"' in entrypoint, name
    for statement in ("CREATE ROLE", "GRANT", "ALTER DEFAULT PRIVILEGES", "CREATE EXTENSION",
                      "ALTER SYSTEM", "network_partition_timeout"):
        assert statement not in entrypoint, f"{statement} belongs in geoportal/db/sql"
    assert not list((CHECKOUT / "deploy/pg_auto_failover").glob("*.sql"))
    assert "--auth scram-sha-256" in entrypoint and "trust" not in entrypoint


def test_an_isolated_primary_steps_down_before_its_standby_is_promoted() -> None:
    """pg_auto_failover's rule against split brain: the monitor's demote timeout exceeds the
    keepers' network-partition timeout (the defaults: 30 s and 20 s)."""
    from geoportal.db.ha import keeper_settings, monitor_settings

    monitor, keeper = monitor_settings(), keeper_settings()
    demote_ms = int(monitor["pgautofailover.primary_demote_timeout"])
    partition_s = int(keeper["timeout.network_partition_timeout"])
    assert partition_s * 1000 < demote_ms
    assert int(monitor["pgautofailover.node_considered_unhealthy_timeout"]) >= 2 * int(
        monitor["pgautofailover.health_check_period"])  # one late check is not a failure


def test_the_ha_nodes_archive_their_wal_to_one_shared_pgbackrest_repository() -> None:
    """Point-in-time recovery for the production topology too: both nodes (either may be the
    primary) archive with the stanza of the mounted pgbackrest.conf into one repository."""
    services = _ha_services()
    config = (CHECKOUT / "deploy" / "pgbackrest.conf").read_text()
    stanza = re.findall(r"^\[(\w+)\]$", config, flags=re.MULTILINE)[-1]
    repo = re.findall(r"^repo1-path=(\S+)$", config, flags=re.MULTILINE)[0]
    dockerfile = (CHECKOUT / "deploy/pg_auto_failover/Dockerfile").read_text()
    assert "pgbackrest" in dockerfile
    pgdata = re.findall(r"^ENV PGDATA=(\S+)", dockerfile, flags=re.MULTILINE)[0]
    shared = set()
    for name in ("pg1", "pg2"):
        volumes = [str(v) for v in services[name]["volumes"]]  # type: ignore[attr-defined]
        assert "./deploy/pgbackrest.conf:/etc/pgbackrest/pgbackrest.conf:ro" in volumes
        shared |= {v.split(":")[0] for v in volumes if v.endswith(f":{repo}")}
        env = services[name]["environment"]
        assert isinstance(env, dict)
        assert env["PGBACKREST_PG1_PATH"] == pgdata  # not the single server's data folder
    assert len(shared) == 1, shared  # the same repository, whichever node archives
    entrypoint = (CHECKOUT / "deploy/pg_auto_failover/entrypoint.sh").read_text()
    assert "archive_mode = on" in entrypoint
    assert f"archive_command = 'pgbackrest --stanza={stanza} archive-push %p'" in entrypoint
    assert f"pgbackrest --stanza={stanza} stanza-create" in entrypoint
