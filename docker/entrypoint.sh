#!/usr/bin/env bash
# Entrypoint of the platform image.
#
#   entrypoint.sh migrate [COMMAND…]   apply migrations as the owner role, grant the runtime
#                                      role its privileges, then run COMMAND if one is given
#                                      (the compose stack's one-shot `migrate` service)
#   entrypoint.sh manage ARGS…         python manage.py ARGS… (createsuperuser, journal verify…)
#   entrypoint.sh owner ARGS…          python manage.py ARGS… connected as the owner role
#                                      (DATABASE_OWNER_URL), e.g. `owner database_roles grant ROLE`
#   entrypoint.sh COMMAND…             run COMMAND (default: gunicorn, see the Dockerfile)
#
# Two database roles (docs/deploy.md, "Database roles"): DATABASE_OWNER_URL
# owns the tables and is used here for migrate and `database_roles grant` only;
# DATABASE_URL is the runtime role of web, worker and beat, which owns nothing. Before
# gunicorn or celery starts, DATABASE_ROLE_CHECK says what to do if DATABASE_URL's role could
# rewrite history (superuser, owner, UPDATE on an append-only table…): `warn` (default),
# `strict` (refuse to start; the compose stack's setting) or `off`.
#
# RUN_MIGRATIONS=1 applies migrations before COMMAND, for deployments without a separate
# migration job. Run migrations from one place only: two containers migrating at once race.
set -euo pipefail

# The project root (/app in the image).
cd "$(dirname "$0")/.."

# The user name in a database URL (percent-decoded).
url_user() {
    python -c 'import sys, urllib.parse; print(urllib.parse.unquote(urllib.parse.urlsplit(sys.argv[1]).username or ""))' "$1"
}

migrate() {
    if [ -z "${DATABASE_OWNER_URL:-}" ]; then
        echo "entrypoint: DATABASE_OWNER_URL is not set: applying migrations with DATABASE_URL's role," \
            "which then owns the tables and can rewrite history (docs/deploy.md)" >&2
        python manage.py migrate --noinput
        return
    fi
    local runtime_role
    runtime_role="$(url_user "${DATABASE_URL:?DATABASE_URL (the runtime role) is not set}")"
    if [ -z "$runtime_role" ]; then
        echo "entrypoint: DATABASE_URL names no user: cannot grant the runtime role" >&2
        exit 64
    fi
    echo "entrypoint: applying database migrations as the owner role" >&2
    DATABASE_URL="$DATABASE_OWNER_URL" python manage.py migrate --noinput
    echo "entrypoint: granting the runtime role $runtime_role its privileges" >&2
    DATABASE_URL="$DATABASE_OWNER_URL" python manage.py database_roles grant "$runtime_role"
}

# Is DATABASE_URL's role unable to rewrite history? (preuves.W002, preuves/database_roles.py)
role_check() {
    case "${DATABASE_ROLE_CHECK:-warn}" in
        off) ;;
        strict)
            if ! python manage.py check --deploy --tag database --database default --fail-level WARNING; then
                echo "entrypoint: DATABASE_ROLE_CHECK=strict: refusing to start with this database role" >&2
                exit 78
            fi
            ;;
        warn) python manage.py check --deploy --tag database --database default ;;
        *)
            echo "entrypoint: DATABASE_ROLE_CHECK must be warn, strict or off" >&2
            exit 64
            ;;
    esac
}

case "${1:-}" in
    migrate)
        shift
        migrate
        if [ "$#" -eq 0 ]; then
            exit 0
        fi
        ;;
    manage)
        shift
        exec python manage.py "$@"
        ;;
    owner)
        shift
        DATABASE_URL="${DATABASE_OWNER_URL:?DATABASE_OWNER_URL (the owner role) is not set in this container}" \
            exec python manage.py "$@"
        ;;
    *)
        if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
            migrate
        fi
        case "${1:-}" in
            gunicorn | celery) role_check ;;
        esac
        ;;
esac

if [ "$#" -eq 0 ]; then
    echo "entrypoint: no command given" >&2
    exit 64
fi

exec "$@"
