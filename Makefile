# hako: the two set-up commands are `make demo` and `make test` (both run `make install` first).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PKGS := busybox-static runc tini tmux iptables nftables iproute2 debootstrap python3-venv curl docker-registry skopeo git supervisor runit docker-compose
APT_PKGS += uidmap slirp4netns fuse-overlayfs  # rootless hakod
APT_PKGS += golang-go golang-github-opencontainers-runtime-tools-dev  # the OCI runtime validation
APT_PKGS += conmon  # hakod --shim conmon
HAKO_SOCK ?= /run/hako/hako.sock
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install system-packages test unit lint demo bench clean compat test-conmon

install: system-packages $(VENV)/.installed

system-packages:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	{ command -v docker && command -v dockerd && command -v containerd; } >/dev/null 2>&1 || missing="$$missing docker.io"; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

$(VENV)/.installed: pyproject.toml | system-packages
	@test -x $(PY) || python3 -m venv $(VENV)
	@# compat: a plain path in a .pth, not setuptools' import-hook finder, which costs every
	@# Python process hakod starts (shim, runtime, helpers) ~15-60 ms of imports at start
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat
	$(PY) -m compileall -q hako >/dev/null
	@touch $@

lint: install
	@set -o pipefail; $(VENV)/bin/lint-imports --config .importlinter 2>&1 | { grep -v DeprecationWarning || true; }

unit: install
	$(PY) -m pytest -q tests/unit

# two pytest-xdist workers: the suite mostly waits (on containers, probes, timeouts), so a 2-CPU
# machine runs two files at once (a file stays in one worker: its module fixtures are made once);
# TEST_JOBS=0 runs it in one process
TEST_JOBS ?= 2
test: install lint
	$(PY) -m pytest -q -rs -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile tests
	$(MAKE) --no-print-directory compat
	$(MAKE) --no-print-directory test-conmon

# Every test that runs a hakod of the harness (marked `shim` by tests/conftest.py: it uses a
# daemon fixture or makes daemons itself; a unit, image-store, registry or runtime test
# starts no shim) again, with every hakod started with --shim conmon (the harness honours
# HAKO_TEST_SHIM), then docker-py's container and exec files. The shim is below the API, so
# the docker CLI alone drives them here (the main run has both clients). Tests of what
# conmon refuses with a 501 (several log files, compression, log attributes) skip with that
# reason (daemon_harness.python_shim_only, tests/compat/expectations.py).
test-conmon: install
	HAKO_TEST_SHIM=conmon HAKO_ALIAS_DOCKER=off $(PY) -m pytest -q -rs -p no:cacheprovider \
	  -n $(TEST_JOBS) --dist loadfile -m shim tests
	HAKO_TEST_SHIM=conmon bash scripts/dockerpy.sh api_container_test.py api_exec_test.py

compat: install
	bash scripts/dockerpy.sh

demo: install
	@bash scripts/demo.sh

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
