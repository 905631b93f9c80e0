#!/usr/bin/env bash
# `pais deblend` under mpirun -np 2, stopped part way: by SIGTERM to every rank (what Slurm sends
# at a time limit or scancel) and by Ctrl-C to mpirun. Each time the job must end (no rank left
# running), fail, and leave no output and no staging directory behind; the SIGTERM run must say
# where it stopped. Run by scripts/mpi-tests.sh (PAIS: the pais binary).
set -euo pipefail
source "$(dirname "$0")/../.ci/env.openmpi"
pais=${PAIS:-.build/release/pais}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/logs"
"$pais" simulate --height 1536 --width 1536 --psf-size 31 --seed 8 --output "$work/field.fits" > /dev/null 2>&1

# interrupt HOW: start the deblend (8 views per tile, one tile row per block: about 8 blocks of a
# second or so), wait for its first tiles, then signal it.
interrupt() {
  local how=$1
  setsid mpirun -np 2 "$pais" deblend "$work/field.fits" --views 8 --block-rows 192 --output "$work/out" \
    > "$work/logs/$how.out" 2> "$work/logs/$how.err" &
  local launcher=$!
  for _ in $(seq 600); do grep -q "tiles " "$work/logs/$how.err" && break; sleep 0.1; done
  grep -q "tiles " "$work/logs/$how.err" || { echo "$how: no progress within 60 s"; cat "$work/logs/$how.err"; exit 1; }
  case $how in
    term-ranks) pkill -TERM -P "$launcher" ;;
    int-mpirun) kill -INT "$launcher" ;;
  esac
  local status=0
  wait "$launcher" || status=$?
  [[ $status -ne 0 ]] || { echo "$how: the deblend finished instead of stopping"; exit 1; }
  if pgrep -f "$work/out" > /dev/null; then echo "$how: a rank is still running"; pgrep -af "$work/out"; exit 1; fi
  local left
  left=$(ls -A "$work" | grep -v -e '^field' -e '^logs$' || true)
  [[ -z $left ]] || { echo "$how: left behind: $left"; exit 1; }
}

interrupt term-ranks
grep -q "interrupted by SIGTERM in block" "$work/logs/term-ranks.err" \
  || { echo "term-ranks: no 'interrupted by SIGTERM' message"; cat "$work/logs/term-ranks.err"; exit 1; }
echo "SIGTERM to both ranks: they stop in the same block, the staging directory is removed"
interrupt int-mpirun
echo "Ctrl-C to mpirun: the job ends and leaves nothing behind"
