#!/usr/bin/env bash
# Toolchains beyond Python that the tests and benchmarks need, from Debian's
# packages and the npm registry (the only registries a clean machine reaches
# besides PyPI). Safe to run again: each step skips what is already there.
# One step per line; add yours below.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {  # install the Debian packages not yet installed
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    ((${#missing[@]})) || return 0
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# examples/orchestrator: Go and its three libraries (no Go module proxy: go.mod
# points at their source under /usr/share/gocode)
command -v go >/dev/null || apt_install golang-go
apt_install golang-github-lib-pq-dev golang-github-gomodule-redigo-dev golang-github-gorilla-websocket-dev

# examples/ado: Node.js and npm (a machine may already have them from elsewhere)
command -v node >/dev/null || apt_install nodejs
command -v npm >/dev/null || apt_install npm

# examples/ado: each service's packages, exactly as locked
for dir in examples/ado/services/*/; do
    if [ -f "$dir/package-lock.json" ]; then (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); fi
done

# tests/integration/test_engine_modes.py: a local Redis to flip the container to
command -v redis-server >/dev/null || apt_install redis-server

# examples/agent-orchestrator, examples/telegram-bot: the Python libraries their
# services use when they run locally (the images use Debian's packages)
python3 -m pip install -q -r examples/agent-orchestrator/requirements.txt -r examples/telegram-bot/requirements.txt

# examples/modular, examples/telegram-bot: each Node package exactly as locked
# (the image builds take node_modules from the build context)
for dir in examples/modular/backend/*/ examples/modular/frontend/ examples/telegram-bot/frontend/; do
    if [ -f "$dir/package-lock.json" ]; then (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); fi
done
