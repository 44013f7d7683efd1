-- pg_auto_failover's monitor: how soon a lost primary is replaced. The one source of these
-- settings: run by `geoportal db start --ha` (geoportal/db/ha.py) and by the monitor of
-- docker-compose's `ha` profile (deploy/pg_auto_failover/entrypoint.sh), as a superuser in the
-- monitor's database. Defaults: a check every 5 s, unhealthy after 20 s, demote wait 30 s
-- (about a minute of lost writes).
--
-- A health check every second; a node unhealthy after 3 s without an answer or a report; the
-- standby promoted 3 s later (the demote timeout). That timeout must exceed the keepers'
-- timeout.network_partition_timeout (ha-keeper.conf, 2 s): a primary cut off from the monitor
-- and its standby has demoted itself before the standby is promoted, so two primaries never
-- accept writes at once (synchronous replication already holds an isolated primary's commits
-- until a standby has them). Measured with `python -m bench failover` (10 SIGKILLs of the
-- primary, 2-core machine under other load, two runs): writes back after 8.8 and 8.1 s on
-- average, 12.9 and 9.6 s at worst; with 4 s / 4 s and the keepers' default 20 s: 10.7 s on
-- average, 11.8 s at worst (README, Replicas and failover).
ALTER SYSTEM SET pgautofailover.health_check_period = 1000;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 500;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 3000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 3000;
SELECT pg_reload_conf();
