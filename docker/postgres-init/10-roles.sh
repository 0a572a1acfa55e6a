#!/usr/bin/env bash
# First initialisation of the bundled PostgreSQL (the image runs /docker-entrypoint-initdb.d/
# once, on an empty volume, as POSTGRES_USER): the two roles of the platform.
#
#   DATABASE_OWNER_USER    owns the database, its schema, tables and trigger functions; only
#                          the `migrate` service connects with it (DATABASE_OWNER_URL)
#   DATABASE_RUNTIME_USER  web, worker and beat (DATABASE_URL); owns nothing. Its privileges
#                          on the tables are granted by `manage.py database_roles grant`, which
#                          the migrate service runs after every migrate
#
# POSTGRES_USER stays the cluster's superuser, for administration only (docs/deploy.md,
# "Database roles"). Passwords are passed as psql variables, never in a
# command line.
set -euo pipefail

: "${DATABASE_OWNER_USER:?set DATABASE_OWNER_USER}"
: "${DATABASE_OWNER_PASSWORD:?set DATABASE_OWNER_PASSWORD}"
: "${DATABASE_RUNTIME_USER:?set DATABASE_RUNTIME_USER}"
: "${DATABASE_RUNTIME_PASSWORD:?set DATABASE_RUNTIME_PASSWORD}"
if [ "$DATABASE_OWNER_USER" = "$DATABASE_RUNTIME_USER" ] || [ "$DATABASE_OWNER_USER" = "$POSTGRES_USER" ] \
    || [ "$DATABASE_RUNTIME_USER" = "$POSTGRES_USER" ]; then
    echo "10-roles.sh: POSTGRES_USER, DATABASE_OWNER_USER and DATABASE_RUNTIME_USER must be three different roles" >&2
    exit 1
fi

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v database="$POSTGRES_DB" \
    -v owner="$DATABASE_OWNER_USER" -v owner_password="$DATABASE_OWNER_PASSWORD" \
    -v runtime="$DATABASE_RUNTIME_USER" -v runtime_password="$DATABASE_RUNTIME_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"runtime" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'runtime_password';
-- The owner owns the database, hence (PostgreSQL 15 and later) the public schema.
ALTER DATABASE :"database" OWNER TO :"owner";
-- Nobody else may connect; the runtime role may connect, not even create temporary tables.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"runtime";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"runtime";
SQL
echo "10-roles.sh: roles $DATABASE_OWNER_USER (owner) and $DATABASE_RUNTIME_USER (runtime) created"
