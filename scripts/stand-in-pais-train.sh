#!/usr/bin/env bash
# A stand-in for `pais train` that keeps the coordinator's job-script contract, so the Slurm
# mechanics of jobs/train.sbatch (signal forwarding, exit code 75, scontrol requeue, --resume auto)
# can be tested before and independently of the real trainer. It is a test double, not a trainer:
# scripts/slurm-tests.sh uses it only for the "contract" checks and runs the real `pais train`
# whenever that exists.
#
# Contract kept (same as the real CLI):
#   stand-in-pais-train.sh train --config FILE --run-dir DIR --resume auto|none|PATH [--epochs N]
#       [--steps-per-epoch N] [--preset P] [--dataset D] [--global-batch N]
#   exit 0  finished: DIR/model.safetensors, DIR/metrics.jsonl, DIR/config.yaml written
#   exit 75 SIGUSR1 or SIGTERM arrived: the current step finished, a checkpoint was written
#   DIR/checkpoints/step-K holds the state after step K; --resume auto continues from the newest.
# The "weights" are a hash chain over the steps taken, so an interrupted-and-resumed run ends
# with the same bytes as an uninterrupted one only if resume restarts at exactly the right step.
# Every rank runs the loop; only rank 0 (OMPI_COMM_WORLD_RANK, else SLURM_PROCID) writes files.
# STAND_IN_STEP_SECONDS (default 0.2) sets the duration of one step.
# Slurm signals every process of a step, so the loop uses shell builtins only (a `$(...)` subshell
# or external command would die of SIGUSR1: traps are not inherited).
set -euo pipefail

[ "${1:-}" = train ] || { echo "usage: $0 train --config FILE --run-dir DIR --resume auto|none|PATH [...]" >&2; exit 2; }
shift
config="" run_dir="" resume="" epochs=2 steps_per_epoch=10
while [ $# -gt 0 ]; do
  case $1 in
    --help | -h) sed -n '2,17p' "$0"; exit 0 ;;
    --config) config=$2; shift 2 ;;
    --run-dir) run_dir=$2; shift 2 ;;
    --resume) resume=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --steps-per-epoch) steps_per_epoch=$2; shift 2 ;;
    --preset | --dataset | --global-batch) shift 2 ;;
    *) echo "stand-in train: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -f "$config" ] || { echo "stand-in train: --config: no such file: $config" >&2; exit 2; }
if [ -z "$run_dir" ] || [ -z "$resume" ]; then echo "stand-in train: --run-dir and --resume are required" >&2; exit 2; fi

# Under mpirun inside a batch job every rank inherits SLURM_PROCID=0, so the MPI variable comes first.
rank=${OMPI_COMM_WORLD_RANK:-${SLURM_PROCID:-0}}
stop=0
trap 'stop=1' USR1 TERM   # only set a flag; the step loop decides when to stop

exec 9<> <(:)   # an idle pipe to wait on
total=$((epochs * steps_per_epoch))
step=0
state=$total
next_state() {  # 64-bit multiplicative hash of (state, step); bash arithmetic wraps mod 2^64
  state=$(( (state * 6364136223846793005 + $1 * 1442695040888963407 + 1) & 0x7fffffffffffffff ))
}
if [ "$resume" = auto ]; then
  newest=$({ ls "$run_dir/checkpoints" 2>/dev/null || true; } | sed -n 's/^step-\([0-9]*\)$/\1/p' | sort -n | tail -1)
  if [ -n "$newest" ]; then
    step=$newest
    read -r state <"$run_dir/checkpoints/step-$newest"
    [ "$rank" -eq 0 ] && echo "stand-in train: resumed from step $step"
  fi
fi
if [ "$rank" -eq 0 ]; then
  mkdir -p "$run_dir/checkpoints"
  cp "$config" "$run_dir/config.yaml"
fi

while [ "$step" -lt "$total" ]; do
  read -r -t "${STAND_IN_STEP_SECONDS:-0.2}" -u 9 || true   # a builtin sleep: nothing ever arrives on fd 9
  step=$((step + 1))
  next_state "$step"
  [ "$rank" -eq 0 ] && echo "{\"step\":$step,\"state\":\"$state\"}" >>"$run_dir/metrics.jsonl"
  if [ "$stop" -eq 1 ]; then
    if [ "$rank" -eq 0 ]; then
      echo "$state" >"$run_dir/checkpoints/.step-$step.tmp"
      mv "$run_dir/checkpoints/.step-$step.tmp" "$run_dir/checkpoints/step-$step"
      echo "stand-in train: stop requested; checkpoint at step $step; exit 75"
    fi
    exit 75
  fi
done
if [ "$rank" -eq 0 ]; then
  echo "$state" >"$run_dir/model.safetensors"
  echo "stand-in train: finished $total steps"
fi
