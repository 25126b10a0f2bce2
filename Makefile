# Two entry points, both safe to run on a fresh Debian or Ubuntu machine:
#   make demo   render the default session to an MP3, and play it when a sound device exists
#   make test   lint, type-check and run the whole test suite
# and, while working: make test-fast   lint and run the tests not marked slow (about a minute)
# Each installs what is missing first: Debian packages through apt, then a virtual environment.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SESSION ?= healthy-spine
# espeak-ng speaks, ffmpeg encodes and decodes, the ALSA headers build simpleaudio,
# alsa-utils gives aplay for finding a sound device.
APT_PACKAGES := espeak-ng ffmpeg libasound2-dev alsa-utils gcc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every Python package the virtual environment holds, with exact versions and hashes, for
# Python 3.11 to 3.13 on any platform (one universal lock). `make lock` refreshes it.
LOCK := requirements/lock.txt
UV_VERSION := 0.13.9

.PHONY: demo test test-fast lint lock system-packages

demo: $(BIN)/.installed
	$(BIN)/practice render $(SESSION) -o $(SESSION).mp3
	@if aplay -l 2>/dev/null | grep -q '^card'; then \
		ffplay -nodisp -autoexit -loglevel error $(SESSION).mp3; \
	else \
		echo "No sound device here: open $(SESSION).mp3 in any audio player."; \
	fi

# For `make test` only: PulseAudio and ALSA's pulse plugin let tests/test_play.py measure live
# playback in real time (not for `make demo`: on a PipeWire desktop they would compete with it).
test: APT_PACKAGES += pulseaudio libasound2-plugins
test: lint
	$(BIN)/python -m pytest

# The fast tier: pure logic and the command in this process (click's CliRunner), no process
# started, nothing spoken, encoded or played (README, "Developing": the marks).
test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

# ruff for style, and mypy --strict for the types (settings in pyproject.toml)
lint: $(BIN)/.installed
	$(BIN)/ruff check player tests benchmarks
	$(BIN)/ruff format --check player tests benchmarks
	$(BIN)/mypy

system-packages:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
		dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Exactly the locked versions (pip refuses any file whose hash differs), then this package
# itself, built with the locked setuptools.
$(BIN)/.installed: pyproject.toml $(LOCK) | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Resolve every dependency (with the test and neural extras) to its newest allowed version.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q uv==$(UV_VERSION)
	.venv-lock/bin/uv pip compile pyproject.toml requirements/build.in --extra test \
		--extra neural --universal --python-version 3.11 --generate-hashes --upgrade \
		--no-header -o $(LOCK)
