#!/bin/sh
# FlashPay container entrypoint: optionally migrate and sync schedules, then run one process role.
#   web      granian serving flashpay.wsgi (set FLASHPAY_MIGRATE=true on exactly one service: migrations are not
#            safe to run from several containers at once)
#   worker   django-q2 cluster (outbox delivery, webhooks, e-mail, schedules)
#   watcher  follows the Bitcoin and Lightning nodes (one instance; advisory-locked)
#   manage   any management command, e.g. `manage createsuperuser`
set -eu

cd /app

if [ "${FLASHPAY_MIGRATE:-false}" = "true" ]; then
    python manage.py migrate --noinput
    # Creates/updates the django-q2 Schedule rows the apps declare (idempotent).
    python manage.py sync_schedules
fi

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
    web)
        # Refresh the static volume the reverse proxy serves (cheap: unchanged files are skipped).
        python manage.py collectstatic --noinput --verbosity 0
        # X-Forwarded-Proto from the proxy is trusted by Django (TRUST_X_FORWARDED_PROTO in
        # compose.yaml): the web port must be reachable only by the proxy (compose publishes
        # only the proxy).
        exec granian --interface wsgi flashpay.wsgi:application \
            --host 0.0.0.0 --port "${PORT:-8000}" \
            --workers "${WEB_WORKERS:-2}" \
            --blocking-threads "${WEB_THREADS:-4}" \
            --respawn-failed-workers \
            --access-log --no-ws \
            "$@"
        ;;
    worker)
        exec python manage.py qcluster "$@"
        ;;
    watcher)
        exec python manage.py watch "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
