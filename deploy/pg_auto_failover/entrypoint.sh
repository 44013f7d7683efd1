#!/bin/sh
# pg_auto_failover in a container: `entrypoint.sh monitor` or `entrypoint.sh node`.
# First start: create (scram-sha-256 passwords, self-signed TLS, HBA rules for the LAN), then
# run. The set-up scripts are the service's own (geoportal/db/sql, copied by the Dockerfile):
# the monitor's timeouts (ha-monitor.sql), the keepers' (ha-keeper.conf), and on the node that
# is the primary the service's roles and rights (roles.sql, schema.sql, database.sql — the same
# statements `geoportal db start` runs; idempotent, at every start).
# The primary's WAL goes to pgBackRest (archive_command, stanza-create on the primary).
# Secrets come from the environment: GEOPORTAL_MONITOR_PASSWORD (autoctl_node),
# GEOPORTAL_REPLICATION_PASSWORD, GEOPORTAL_{OWNER,APP,WRITER}_PASSWORD.
set -eu
role="$1"
sql=/usr/local/share/geoportal/sql
: "${GEOPORTAL_MONITOR_PASSWORD:?}" "${GEOPORTAL_REPLICATION_PASSWORD:?}"
monitor_uri="postgresql://autoctl_node:${GEOPORTAL_MONITOR_PASSWORD}@monitor:5432/pg_auto_failover?sslmode=require"

settle() {  # wait for the local server, then run SQL as the superuser over the socket
  until pg_isready -q -h /var/run/postgresql; do sleep 1; done
  psql -h /var/run/postgresql -v ON_ERROR_STOP=1 -qAt "$@"
}

if [ "$role" = monitor ]; then
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    pg_autoctl create monitor --pgdata "$PGDATA" --hostname monitor --auth scram-sha-256 \
      --ssl-self-signed
  fi
  pg_autoctl run --pgdata "$PGDATA" &
  settle -d pg_auto_failover -v pw="$GEOPORTAL_MONITOR_PASSWORD" <<'SQL'
ALTER USER autoctl_node PASSWORD :'pw';
SQL
  settle -d pg_auto_failover -f "$sql/ha-monitor.sql"  # failover within seconds
  wait
  exit $?
fi

if [ ! -f "$PGDATA/PG_VERSION" ]; then
  pg_autoctl create postgres --pgdata "$PGDATA" --hostname "$(hostname)" --name "$(hostname)" \
    --dbname geoportal --auth scram-sha-256 --ssl-self-signed --pg-hba-lan \
    --monitor "$monitor_uri"
  pg_autoctl config set --pgdata "$PGDATA" replication.password \
    "$GEOPORTAL_REPLICATION_PASSWORD"
fi
# WAL archived by pgBackRest from whichever node is the primary (a standby archives nothing
# until promoted), into the repository both nodes share; after pg_auto_failover's includes in
# postgresql.conf, so these win. A standby cloned from the primary has them already.
if ! grep -q '^# geoportal: WAL archiving' "$PGDATA/postgresql.conf"; then
  cat >> "$PGDATA/postgresql.conf" <<'CONF'
# geoportal: WAL archiving (pgBackRest, stanza of /etc/pgbackrest/pgbackrest.conf)
archive_mode = on
archive_command = 'pgbackrest --stanza=geoportal archive-push %p'
archive_timeout = 60
CONF
fi
# `pg_autoctl create` leaves PostgreSQL running: stopped, the keeper starts it with the above
if pg_ctl --pgdata "$PGDATA" status >/dev/null 2>&1; then
  pg_ctl --pgdata "$PGDATA" --wait stop --mode fast
fi
grep -v '^[[:space:]]*\(#\|$\)' "$sql/ha-keeper.conf" | while read -r key value; do
  pg_autoctl config set --pgdata "$PGDATA" "$key" "$value"
done
pg_autoctl run --pgdata "$PGDATA" &
until pg_isready -q -h /var/run/postgresql; do sleep 1; done
if [ "$(psql -h /var/run/postgresql -qAt -c 'SELECT pg_is_in_recovery()')" = f ]; then
  set -- -v owner=geoportal_owner -v app=geoportal_app -v writer=geoportal_writer \
    -v db=geoportal -v owner_password="${GEOPORTAL_OWNER_PASSWORD:?}" \
    -v app_password="${GEOPORTAL_APP_PASSWORD:?}" \
    -v writer_password="${GEOPORTAL_WRITER_PASSWORD:?}"
  settle -d postgres -v replication_password="$GEOPORTAL_REPLICATION_PASSWORD" <<'SQL'
ALTER USER pgautofailover_replicator PASSWORD :'replication_password';
SQL
  settle -d postgres "$@" -f "$sql/roles.sql"
  for database in template1 geoportal; do
    settle -d "$database" "$@" -f "$sql/schema.sql"
  done
  settle -d geoportal "$@" -f "$sql/database.sql"
  pgbackrest --stanza=geoportal stanza-create  # idempotent: the shared repository, once
fi
wait
