-- In template1 and the service's database: PostGIS (an extension only a superuser may
-- create), a schema only its owner may create in, and SELECT for the service on every
-- table the owner creates from now on (migrations, imports). Idempotent; see roles.sql.
CREATE EXTENSION IF NOT EXISTS postgis;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app", :"writer";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"writer";
