# PAIS: two commands on a fresh machine.
#   make demo   the main job: a small distributed run on built-in synthetic data
#   make test   every test: unit tests (swift test), multi-rank checks under real mpirun, then the
#               Slurm checks on a local single-node cluster (root only; PAIS_SKIP_SLURM=1 skips them)
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_BIN := .build/release/pais

.PHONY: demo test deps build build-release unit-tests mpi-tests slurm-tests clean

deps:
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

clean:
	rm -rf .build
