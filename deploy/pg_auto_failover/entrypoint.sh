#!/bin/sh
# pg_auto_failover in a container: `entrypoint.sh monitor` or `entrypoint.sh node`.
# First start: create (scram-sha-256 passwords, self-signed TLS, HBA rules for the LAN), then
# run. A node that is the primary sets up the service's roles (roles.sql, idempotent).
# Secrets come from the environment: GEOPORTAL_MONITOR_PASSWORD (autoctl_node),
# GEOPORTAL_REPLICATION_PASSWORD, GEOPORTAL_{OWNER,APP,WRITER}_PASSWORD.
set -eu
role="$1"
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
  # the failover within seconds, as `geoportal db start --ha` (geoportal/db/ha.py)
  settle -d pg_auto_failover -v pw="$GEOPORTAL_MONITOR_PASSWORD" <<'SQL'
ALTER USER autoctl_node PASSWORD :'pw';
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 4000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 4000;
SELECT pg_reload_conf();
SQL
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
pg_autoctl run --pgdata "$PGDATA" &
until pg_isready -q -h /var/run/postgresql; do sleep 1; done
if [ "$(psql -h /var/run/postgresql -qAt -c 'SELECT pg_is_in_recovery()')" = f ]; then
  settle -d geoportal -v replication_password="$GEOPORTAL_REPLICATION_PASSWORD" \
    -v owner=geoportal_owner -v app=geoportal_app -v writer=geoportal_writer -v db=geoportal \
    -v owner_password="${GEOPORTAL_OWNER_PASSWORD:?}" \
    -v app_password="${GEOPORTAL_APP_PASSWORD:?}" \
    -v writer_password="${GEOPORTAL_WRITER_PASSWORD:?}" \
    -f /usr/local/share/geoportal/roles.sql
fi
wait
