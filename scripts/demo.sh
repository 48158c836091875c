#!/usr/bin/env bash
# make demo: start hakod if none answers, make the busybox image, run a container.
set -euo pipefail
echo "hako demo: the engine is being built; nothing to show yet."
