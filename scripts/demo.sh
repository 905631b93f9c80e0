#!/usr/bin/env bash
# The main job. For now: show the environment on two MPI ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=.build/release/pais
echo "== pais env on 2 ranks"
mpirun -np 2 "$pais" env
