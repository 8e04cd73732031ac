#!/bin/sh
# Write nginx.conf from its template with the upstreams' addresses from the
# environment (BACKEND_URL, BOT_URL: devenv rewrites them when the backend or
# the bot runs on the host), then run nginx in the foreground.
set -eu
: "${BACKEND_URL:=http://backend:8000}" "${BOT_URL:=http://bot:8001}"
export BACKEND_URL BOT_URL
envsubst '${BACKEND_URL} ${BOT_URL}' \
  < /etc/nginx/templates/nginx.conf.template > /etc/nginx/nginx.conf
echo "nginx: /api/ -> ${BACKEND_URL}, /webhook -> ${BOT_URL}"
exec nginx -g 'daemon off;'
