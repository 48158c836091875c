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
FILES=(api_container_test.py api_exec_test.py api_image_test.py models_containers_test.py
       models_images_test.py api_client_test.py errors_test.py regression_test.py api_build_test.py)

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
  for f in "${FILES[@]}"; do args+=("tests/integration/$f"); done
fi

cd "$SUITE"
export PYTHONPATH="$REPO/tests/compat${PYTHONPATH:+:$PYTHONPATH}"
export DOCKER_TEST_API_VERSION=1.41
exec "$PY" -m pytest -p dockerpy_plugin -p no:cacheprovider \
  --timeout "${DOCKERPY_TIMEOUT:-60}" -q -rfEX "${args[@]}"
