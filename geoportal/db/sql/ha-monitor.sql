-- pg_auto_failover's monitor: how soon a lost primary is replaced. The one source of these
-- settings: run by `geoportal db start --ha` (geoportal/db/ha.py) and by the monitor of
-- docker-compose's `ha` profile (deploy/pg_auto_failover/entrypoint.sh), as a superuser in the
-- monitor's database. Defaults: a check every 5 s, unhealthy after 20 s, demote wait 30 s
-- (about a minute of lost writes).
--
-- A health check every second, a node unhealthy after 4 s without an answer or a report,
-- then the standby promoted after the demote timeout. That timeout must exceed the keepers'
-- timeout.network_partition_timeout (ha-keeper.conf): a primary cut off from the monitor and
-- its standby has demoted itself before the standby is promoted, so two primaries never
-- accept writes at once (and synchronous replication already holds an isolated primary's
-- commits until a standby has them).
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 4000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 4000;
SELECT pg_reload_conf();
