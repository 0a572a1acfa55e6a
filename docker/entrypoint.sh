#!/usr/bin/env bash
# Entrypoint of the platform image.
#
#   entrypoint.sh migrate [COMMAND…]   apply migrations, then run COMMAND if one is given
#                                      (the compose stack's one-shot `migrate` service)
#   entrypoint.sh manage ARGS…         python manage.py ARGS… (createsuperuser, journal verify…)
#   entrypoint.sh COMMAND…             run COMMAND (default: gunicorn, see the Dockerfile)
#
# RUN_MIGRATIONS=1 applies migrations before COMMAND, for deployments without a separate
# migration job. Run migrations from one place only: two containers migrating at once race.
set -euo pipefail

# The project root (/app in the image).
cd "$(dirname "$0")/.."

migrate() {
    echo "entrypoint: applying database migrations" >&2
    python manage.py migrate --noinput
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
    *)
        if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
            migrate
        fi
        ;;
esac

if [ "$#" -eq 0 ]; then
    echo "entrypoint: no command given" >&2
    exit 64
fi

exec "$@"
