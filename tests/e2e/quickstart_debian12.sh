#!/usr/bin/env bash
# The README's quick start, for real, on Debian 12 with Debian's own python3
# (which refuses `pip install` outside a venv: PEP 668), as a non-root user:
# the venv commands of the README, then pipx and uv; each brings up the demo
# (api + worker + PostgreSQL + Redis) with `devenv start api worker`, checks
# /health and a job, and removes what it made. Not run by pytest (it needs
# Debian's mirror and PyPI); run it by hand from the repository root:
#
#   bash tests/e2e/quickstart_debian12.sh [venv|pipx|uv ...]
#
# It uses the host's Docker Engine (socket mounted, host network) and the
# debian:bookworm-slim image. QUICKSTART_CA_BUNDLE: a CA bundle for pip/uv
# inside the container when PyPI is reached through a TLS-intercepting proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."
ways=("${@:-venv pipx uv}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive --format=tar HEAD > "$work/devenv.tar"
python3 - > "$work/ports" <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
ca=()
if [ -n "${QUICKSTART_CA_BUNDLE:-}" ]; then
  ca=(-v "$QUICKSTART_CA_BUNDLE:/ca.crt:ro" -e PIP_CERT=/ca.crt -e SSL_CERT_FILE=/ca.crt)
fi
cat > "$work/inside.sh" <<'EOF'
set -euo pipefail
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv pipx >/dev/null 2>&1
echo "Debian $(cat /etc/debian_version), $(python3 --version), $(ls /usr/lib/python3*/EXTERNALLY-MANAGED)"
useradd -m dev
mkdir /home/dev/devenv && tar -xf /work/devenv.tar -C /home/dev/devenv && chown -R dev /home/dev/devenv
gid=$(stat -c %g /var/run/docker.sock)
getent group "$gid" >/dev/null || groupadd -g "$gid" hostdocker
usermod -aG "$(getent group "$gid" | cut -d: -f1)" dev
if [[ " $WAYS " == *" uv "* ]]; then
  python3 -m venv /opt/uv && /opt/uv/bin/pip install -q uv && ln -s /opt/uv/bin/uv /usr/local/bin/uv
fi
su dev -c "cd ~/devenv && WAYS='$WAYS' PIP_CERT=${PIP_CERT:-} SSL_CERT_FILE=${SSL_CERT_FILE:-} DEVENV_EXTRA_LABELS=dev.devenv.quickstart=1 bash /work/user.sh"
EOF
cat > "$work/user.sh" <<'EOF'
set -euo pipefail
[ -n "${PIP_CERT:-}" ] || unset PIP_CERT
[ -n "${SSL_CERT_FILE:-}" ] || unset SSL_CERT_FILE
read -r pg rd api < /work/ports
echo "first python3 on PATH: $(command -v python3)"
echo "== the README's old first command (fails here):"
python3 -m pip install -e '.[demo]' 2>&1 | tail -2 || true
check() {  # $1: the devenv command, $2: project name
  printf 'COMPOSE_PROJECT_NAME=%s\nPOSTGRES_PORT=%s\nREDIS_PORT=%s\nAPI_PORT=%s\nHEALTH_INTERVAL=1s\n' \
    "$2" "$pg" "$rd" "$api" > .env
  $1 start api worker > "$2.log" 2>&1 &
  local pid=$!
  python3 - "$api" <<'PY' || { kill -TERM $pid; wait $pid || true; tail -30 "$2.log"; exit 1; }
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.time() + 180
while True:
    try:
        with urllib.request.urlopen(base + "/health", timeout=3) as r:
            print("  health:", r.read().decode())
            break
    except OSError:
        if time.time() > deadline:
            sys.exit("  /health did not answer")
        time.sleep(1)
req = urllib.request.Request(base + "/jobs", data=b'{"text": "hello debian"}', method="POST")
job = json.loads(urllib.request.urlopen(req, timeout=5).read())
for _ in range(60):
    got = json.loads(urllib.request.urlopen(f"{base}/jobs/{job['id']}", timeout=5).read())
    if got.get("status") == "done":
        print("  job:", got["result"])
        break
    time.sleep(0.5)
else:
    sys.exit("  the job was not done")
PY
  kill -TERM $pid && wait $pid
  $1 down --volumes --yes > /dev/null
}
for way in $WAYS; do
  echo "== $way"
  case $way in
    venv)
      python3 -m venv .venv && .venv/bin/python -m pip install -q -e '.[demo]'
      check .venv/bin/devenv dvtqsvenv ;;
    pipx)
      pipx install -e '.[demo]' > /dev/null 2>&1
      check ~/.local/bin/devenv dvtqspipx
      pipx uninstall devenv > /dev/null ;;
    uv)
      uv tool install -q -e '.[demo]'
      check ~/.local/bin/devenv dvtqsuv
      uv tool uninstall -q devenv ;;
  esac
  echo "  $way: ok"
done
EOF
chmod -R a+rX "$work"  # the container's user reads it
docker run --rm --network host --label dev.devenv.quickstart=1 \
  -v /var/run/docker.sock:/var/run/docker.sock -v "$work:/work" "${ca[@]}" \
  -e WAYS="${ways[*]}" debian:bookworm-slim bash /work/inside.sh
