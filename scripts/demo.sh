#!/usr/bin/env bash
# make demo: start hakod if none answers, make the busybox base image, run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.venv/bin"
SOCK="${HAKO_SOCK:-/run/hako/hako.sock}"
export HAKO_HOST="unix://$SOCK"

ping() { curl -sf --max-time 2 --unix-socket "$SOCK" http://hako/_ping >/dev/null 2>&1; }

if ping; then
  echo "==> hakod already answers on $SOCK"
else
  echo "==> starting hakod (log: /var/log/hakod.log)"
  mkdir -p "$(dirname "$SOCK")"
  nohup "$BIN/hakod" -H "unix://$SOCK" --pidfile /run/hako/hakod.pid >>/var/log/hakod.log 2>&1 &
  for _ in $(seq 1 200); do ping && break; sleep 0.05; done
  ping || { echo "hakod did not start; see /var/log/hakod.log"; tail -20 /var/log/hakod.log; exit 1; }
fi

if ! "$BIN/hako" image inspect busybox:latest >/dev/null 2>&1; then
  echo "==> hako image bootstrap busybox"
  "$BIN/hako" image bootstrap busybox
fi
"$BIN/hako" images

echo "==> hako run --rm busybox echo \"This is a test container OK.\""
"$BIN/hako" run --rm busybox echo "This is a test container OK."

echo "==> hako build -t test examples/seed   (the seed notes' Dockerfile)"
"$BIN/hako" build -t test examples/seed
echo "==> hako run --rm test"
"$BIN/hako" run --rm test

cat <<MSG

hakod is running (pid $(cat /run/hako/hakod.pid 2>/dev/null || echo '?')). Try:
  export PATH=$BIN:\$PATH
  hako run -it --rm busybox sh
  hako ps -a
The real docker CLI and docker-py work against it too:
  export DOCKER_HOST=unix://$SOCK
  docker run --rm busybox uname -a
Stop it with: kill \$(cat /run/hako/hakod.pid)
MSG
