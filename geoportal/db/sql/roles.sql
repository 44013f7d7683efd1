-- The service's roles, cluster-wide: the schema owner, the read role (app) and the editors'
-- role (writer). The one source of these statements: run by `geoportal db start` (the private
-- cluster), `geoportal db start --ha` (on the primary) and deploy/pg_auto_failover's
-- entrypoint (docker-compose `ha` profile), with psql variables :owner :app :writer and
-- :{owner,app,writer}_password. Idempotent, so a start upgrades an earlier cluster in place.
-- The service's roles commit synchronously whatever the cluster's default.
SELECT format('CREATE ROLE %I', :'owner')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
ALTER ROLE :"app" SET synchronous_commit = on;
SELECT format('CREATE ROLE %I', :'writer')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'writer') \gexec
ALTER ROLE :"writer" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'writer_password';
ALTER ROLE :"writer" SET synchronous_commit = on;
