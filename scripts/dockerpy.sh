#!/usr/bin/env bash
# Run docker-py's own integration suite (sdist docker==7.0.0) against a private hakod.
# Usage: scripts/dockerpy.sh [extra pytest args, e.g. -k test_wait or a file::Class::test]
# The sdist is fetched once into .cache/ with pip; tests/compat/dockerpy_plugin.py starts the
# daemon, imports the local images and applies tests/compat/expectations.py.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PY:-$REPO/.venv/bin/python}"
VERSION=7.0.0
CACHE="$REPO/.cache"
SUITE="$CACHE/docker-$VERSION"
# No list of files: the whole of tests/integration runs, so a file cannot be skipped by
# leaving it out. What is left out or expected to fail is in tests/compat/expectations.py,
# test by test or file by file, each with its reason.

if [ ! -f "$SUITE/tests/integration/base.py" ]; then
  mkdir -p "$CACHE"
  [ -f "$CACHE/docker-$VERSION.tar.gz" ] || \
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$CACHE" "docker==$VERSION"
  tar -xzf "$CACHE/docker-$VERSION.tar.gz" -C "$CACHE" \
    "docker-$VERSION/tests" "docker-$VERSION/pytest.ini"
fi

args=()
for a in "$@"; do
  case "$a" in -*) args+=("$a") ;; *) args+=("tests/integration/$a") ;; esac
done
has_target=0
for a in "$@"; do case "$a" in -*) ;; *) has_target=1 ;; esac; done
if [ "$has_target" = 0 ]; then
  args+=("tests/integration")
fi

cd "$SUITE"
export PYTHONPATH="$REPO/tests/compat${PYTHONPATH:+:$PYTHONPATH}"
export DOCKER_TEST_API_VERSION=1.41
exec "$PY" -m pytest -p dockerpy_plugin -p no:cacheprovider \
  --timeout "${DOCKERPY_TIMEOUT:-60}" -q -rfEX "${args[@]}"
