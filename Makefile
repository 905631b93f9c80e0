# PAIS: two commands on a fresh machine.
#   make demo   the main job: a small distributed run on built-in synthetic data
#   make test   every test: unit tests (swift test), multi-rank checks under real mpirun, then the
#               Slurm checks on a local single-node cluster (root only; PAIS_SKIP_SLURM=1 skips them)
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_BIN := .build/release/pais
PREFIX ?= /usr/local

.PHONY: demo test deps build build-release unit-tests mpi-tests slurm-tests install clean

deps:
	@bash .ci/check-disk
	@bash .ci/install-deps

build-release: deps
	$(SWIFT) build -c release --product pais

demo: build-release
	@bash scripts/demo.sh

unit-tests: deps
	$(SWIFT) test

mpi-tests: build-release
	@bash scripts/mpi-tests.sh
	@bash scripts/train-tests.sh

slurm-tests: build-release
	@bash scripts/slurm-tests.sh

test: unit-tests mpi-tests slurm-tests

# The executable in PREFIX/bin and the shipped models in PREFIX/share/pais/models, where
# `pais deblend` and `pais evaluate` look for their default model (DESTDIR for staged installs).
# The Swift runtime is linked in, so nodes without a Swift toolchain can run it (they need the
# Debian libraries only: Open MPI, cfitsio, wcslib, OpenBLAS, FFTW, libcrypto).
install: deps
	$(SWIFT) build -c release --product pais --static-swift-stdlib --build-path .build-static
	install -D -m 755 .build-static/release/pais $(DESTDIR)$(PREFIX)/bin/pais
	install -d $(DESTDIR)$(PREFIX)/share/pais/models
	install -m 644 models/*.safetensors models/README.md $(DESTDIR)$(PREFIX)/share/pais/models/

clean:
	rm -rf .build
