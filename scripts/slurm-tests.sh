#!/usr/bin/env bash
# The Slurm part of the test suite: starts a real single-node Slurm cluster (scripts/slurm-cluster.sh),
# submits the project's own jobs/ scripts with sbatch and checks what they produce:
#   - jobs/selftest.sbatch: 2 ranks under srun --mpi=pmix, 3 ranks under mpirun, and a negative
#     control (--corrupt-rank) that must fail; the guard outside Slurm;
#   - jobs/train.sbatch with the real `pais train` (configs/tiny.yaml): a 2-rank run writes its
#     outputs and its log ends with `pais status` ("state: finished"); signal -> checkpoint -> exit 75 -> requeue -> resume gives the same model.safetensors
#     as an uninterrupted run, under srun and under mpirun, and after a real preemption by the
#     urgent partition; jobs/scaling.sbatch's array producing its table and summary;
#   - jobs/deblend.sbatch: 2 ranks write the catalog of one process (also with WEIGHT and
#     ZERO_POINT); a truncated image fails cleanly; a list of images as a job array.
# Every wait is bounded. Prints PASS/FAIL/SKIP lines and ends with "slurm-tests: N passed, M failed".
#
#   PAIS_SKIP_SLURM=1        skip everything (also skipped automatically when not root)
#   PAIS_BIN=PATH            the pais binary (default .build/release/pais)
#   PAIS_TEST_CONFIG=FILE    training config for the real-trainer checks (default: configs/tiny.yaml,
#                            else the first configs/*tiny*.yaml); PAIS_TEST_PRESET (tiny),
#                            PAIS_TEST_EPOCHS (2), PAIS_TEST_STEPS_PER_EPOCH (150), PAIS_TEST_GLOBAL_BATCH (16)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$PWD

if [ "${PAIS_SKIP_SLURM:-0}" = 1 ]; then
  echo "slurm-tests: skipped (PAIS_SKIP_SLURM=1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-tests: skipped: needs root to install and start the Slurm daemons (or set PAIS_SKIP_SLURM=1)"
  exit 0
fi

pais=${PAIS_BIN:-$repo/.build/release/pais}
[ -x "$pais" ] || { echo "slurm-tests: no pais binary at $pais (swift build -c release)" >&2; exit 1; }
cluster=$repo/scripts/slurm-cluster.sh
work=$(mktemp -d /tmp/pais-slurm-tests.XXXXXX)
passed=0
failed=0
cluster_was_up=""
cluster_started=""

pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }
skip() { echo "SKIP  $1"; }

# run_test NAME FUNCTION: runs one check, times it, and shows its log only when it fails.
run_test() {
  local name=$1 function=$2 log=$work/test-$RANDOM.log start=$SECONDS
  if "$function" >"$log" 2>&1; then
    pass "$name ($((SECONDS - start)) s)"
  else
    fail "$name ($((SECONDS - start)) s)"
    sed 's/^/      /' "$log" | tail -40
  fi
}

job_field() { scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# wait_job JOBID SECONDS: waits until the job is in a final state; prints that state.
wait_job() {
  local job=$1 deadline=$((SECONDS + $2)) state
  while [ "$SECONDS" -lt "$deadline" ]; do
    state=$(job_field "$job" JobState)
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        echo "$state"; return 0 ;;
    esac
    sleep 0.5
  done
  echo "job $job still $(job_field "$job" JobState) after $2 s; cancelling it" >&2
  scancel "$job" 2>/dev/null
  return 1
}

# wait_lines FILE N SECONDS: waits until FILE has at least N lines.
wait_lines() {
  local deadline=$((SECONDS + $3))
  until [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "$1 has fewer than $2 lines after $3 s" >&2; return 1; }
    sleep 0.2
  done
}

# expect_job JOBID STATE EXITCODE LOG: the job's final state and exit code, with its log on mismatch.
expect_job() {
  local state exit_code
  state=$(wait_job "$1" 180) || { cat "$4" 2>/dev/null; return 1; }
  exit_code=$(job_field "$1" ExitCode)
  if [ "$state" != "$2" ] || [ "$exit_code" != "$3" ]; then
    echo "job $1: expected $2 with ExitCode=$3, got $state with ExitCode=$exit_code"
    cat "$4" 2>/dev/null
    return 1
  fi
  cat "$4"
}

# --- the cluster ----------------------------------------------------------------------------------

cleanup() {
  if [ -n "$cluster_started" ]; then "$cluster" stop || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

test_cluster_start() {
  # A cluster that was already up (someone's own) is used and left running; otherwise ours is
  # stopped at the end, also when start fails half-way.
  if "$cluster" status >/dev/null 2>&1; then cluster_was_up=1; else cluster_started=1; fi
  "$cluster" start || return 1
  sinfo -h -o '%P %t %c' | tee /dev/stderr | grep -q '^debug\* idle 4$'
}

# --- selftest.sbatch ------------------------------------------------------------------------------

test_selftest_srun() {
  local job
  job=$(PAIS_BIN=$pais LAUNCHER=srun sbatch --parsable --ntasks=2 --output="$work/selftest-%j.out" jobs/selftest.sbatch) || return 1
  expect_job "$job" COMPLETED 0:0 "$work/selftest-$job.out" >"$work/selftest.log" || { cat "$work/selftest.log"; return 1; }
  cat "$work/selftest.log"
  grep -q '^selftest on 2 rank(s), launch: srun' "$work/selftest.log" && grep -Eq '^[1-9][0-9]* passed, 0 failed$' "$work/selftest.log"
}

test_selftest_mpirun() {
  local job
  job=$(PAIS_BIN=$pais LAUNCHER=mpirun sbatch --parsable --ntasks=3 --output="$work/selftest-%j.out" jobs/selftest.sbatch) || return 1
  expect_job "$job" COMPLETED 0:0 "$work/selftest-$job.out" >"$work/selftest-mpirun.log" || { cat "$work/selftest-mpirun.log"; return 1; }
  cat "$work/selftest-mpirun.log"
  grep -q '^selftest on 3 rank(s), launch: mpirun' "$work/selftest-mpirun.log" && grep -Eq '^[1-9][0-9]* passed, 0 failed$' "$work/selftest-mpirun.log"
}

test_selftest_negative_control() {
  local job
  job=$(PAIS_BIN=$pais LAUNCHER=srun sbatch --parsable --ntasks=2 --output="$work/selftest-%j.out" jobs/selftest.sbatch --corrupt-rank 1) || return 1
  expect_job "$job" FAILED 1:0 "$work/selftest-$job.out" >"$work/negative.log" || { cat "$work/negative.log"; return 1; }
  cat "$work/negative.log"
  grep -Eq '^[0-9]+ passed, [1-9][0-9]* failed$' "$work/negative.log"
}

test_guard_outside_slurm() {
  local script output status
  for script in selftest train scaling deblend; do
    output=$(env -u SLURM_JOB_ID -u SLURM_ARRAY_TASK_ID bash "jobs/$script.sbatch" 2>&1); status=$?
    echo "$script.sbatch: exit $status: $output"
    [ "$status" -eq 2 ] && [[ $output == *"not inside a Slurm job"* ]] || return 1
  done
}

# --- train.sbatch and scaling.sbatch with the real trainer ------------------------------------------

# submit_train NAME RUN_DIR [sbatch options...]: submits jobs/train.sbatch; prints the job id.
# The trainer, its config and its size come from the caller's TRAIN_* variables.
submit_train() {
  local name=$1 run_dir=$2; shift 2
  PAIS_BIN=$TRAIN_BIN CONFIG=$TRAIN_CONFIG RUN_DIR=$run_dir LAUNCHER=${TRAIN_LAUNCHER:-srun} \
    PRESET=${TRAIN_PRESET:-} EPOCHS=$TRAIN_EPOCHS STEPS_PER_EPOCH=$TRAIN_STEPS GLOBAL_BATCH=${TRAIN_BATCH:-} \
    sbatch --parsable --job-name="$name" --output="$work/%x-%j.out" "$@" jobs/train.sbatch
}

# The uninterrupted reference run; its model.safetensors is what every interrupted run must match.
train_reference() {
  local job
  job=$(submit_train ref "$work/$TRAIN_TAG-ref" --ntasks-per-node=2) || return 1
  expect_job "$job" COMPLETED 0:0 "$work/ref-$job.out" || return 1
  for file in model.safetensors metrics.jsonl config.yaml; do
    [ -s "$work/$TRAIN_TAG-ref/$file" ] || { echo "missing $TRAIN_TAG-ref/$file"; return 1; }
  done
  [ -d "$work/$TRAIN_TAG-ref/checkpoints" ] || { echo "missing $TRAIN_TAG-ref/checkpoints/"; return 1; }
  grep -q "^state: finished" "$work/ref-$job.out" || { echo "the job log does not end with pais status"; return 1; }
  sha256sum "$work/$TRAIN_TAG-ref/model.safetensors"
}

# train_interrupted NAME HOW: HOW = signal (scancel --signal=USR1 --batch) or preempt (an urgent job
# that needs the whole node). Then: requeued at least once, resumed, final bytes equal the reference.
train_interrupted() {
  local name=$1 how=$2 run_dir=$work/$TRAIN_TAG-$1 job urgent restarts
  job=$(submit_train "$name" "$run_dir" --ntasks-per-node=2 --partition=debug) || return 1
  wait_lines "$run_dir/metrics.jsonl" "$TRAIN_SIGNAL_AFTER" 120 || { cat "$work/$name-$job.out"; return 1; }
  if [ "$how" = signal ]; then
    scancel --signal=USR1 --batch "$job"
  else
    urgent=$(sbatch --parsable --partition=urgent --ntasks=4 --job-name=urgent --output="$work/urgent-%j.out" --wrap 'srun hostname') || return 1
  fi
  expect_job "$job" COMPLETED 0:0 "$work/$name-$job.out" || return 1
  restarts=$(job_field "$job" Restarts)
  echo "restarts: $restarts"
  [ "${restarts:-0}" -ge 1 ] || { echo "the job was never requeued: it ended before the stop took effect"; return 1; }
  if [ "$how" = preempt ]; then
    expect_job "$urgent" COMPLETED 0:0 "$work/urgent-$urgent.out" || return 1
    grep -q 'DUE TO PREEMPTION\|DUE TO JOB REQUEUE' "$work/$name-$job.out" || return 1
  fi
  ls "$run_dir/checkpoints"
  sha256sum "$work/$TRAIN_TAG-ref/model.safetensors" "$run_dir/model.safetensors"
  cmp "$work/$TRAIN_TAG-ref/model.safetensors" "$run_dir/model.safetensors"
}

test_train_reference() { train_reference; }
test_train_signal_srun() { TRAIN_LAUNCHER=srun train_interrupted signal-srun signal; }
test_train_signal_mpirun() { TRAIN_LAUNCHER=mpirun train_interrupted signal-mpirun signal; }
test_train_preemption() { TRAIN_LAUNCHER=srun train_interrupted preempted preempt; }

# jobs/scaling.sbatch as an array over 1-3 ranks (global batch 6 splits evenly): one CSV line per
# point, then one summary.
test_scaling_array() {
  local job out=$work/$TRAIN_TAG-scaling state
  job=$(PAIS_BIN=$TRAIN_BIN CONFIG=$TRAIN_CONFIG OUT_DIR=$out STEPS=$TRAIN_STEPS GLOBAL_BATCH=6 MODE=strong \
        PRESET=${TRAIN_PRESET:-} sbatch --parsable --array=1-3 --ntasks=3 --output="$work/scaling-%A_%a.out" jobs/scaling.sbatch) || return 1
  for task in 1 2 3; do
    state=$(wait_job "${job}_$task" 300) || return 1
    cat "$work/scaling-${job}_$task.out"
    [ "$state" = COMPLETED ] || { echo "task $task: $state"; return 1; }
  done
  cat "$out/scaling.csv" "$out/scaling-$job.md"
  [ "$(awk -F, -v j="$job" '$9 == j && $8 == 0' "$out/scaling.csv" | wc -l)" -eq 3 ] &&
    [ "$(grep -c '^| [123] |' "$out/scaling-$job.md")" -eq 3 ]
}

# jobs/deblend.sbatch with the reference run's tiny model: 2 ranks under srun write the catalog one
# process writes outside Slurm; a truncated image fails the job, names the problem, leaves no output.
test_deblend_job() {
  local model=$work/$TRAIN_TAG-ref/model.safetensors job field=$work/deblend-field.fits
  [ -s "$model" ] || { echo "no model from the reference training run"; return 1; }
  "$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --output "$field" >/dev/null 2>&1 || return 1
  "$pais" deblend "$field" --model "$model" --preset tiny --tile 32 --threads 1 --output "$work/deblend-plain" || return 1
  job=$(PAIS_BIN=$pais IMAGE=$field OUTPUT=$work/deblend-job MODEL=$model PRESET=tiny TILE=32 \
        sbatch --parsable --ntasks=2 --output="$work/deblend-%j.out" jobs/deblend.sbatch) || return 1
  expect_job "$job" COMPLETED 0:0 "$work/deblend-$job.out" || return 1
  grep -q 'tiles on 2 rank(s)' "$work/deblend-$job.out" || return 1
  cmp "$work/deblend-plain/catalog.csv" "$work/deblend-job/catalog.csv" || return 1
  # WEIGHT and ZERO_POINT reach pais: the field as its own weight map blanks its negative pixels.
  "$pais" deblend "$field" --model "$model" --preset tiny --tile 32 --threads 1 --weight "$field" --zero-point 26.5 \
    --output "$work/deblend-weighted" 2>/dev/null || return 1
  job=$(PAIS_BIN=$pais IMAGE=$field OUTPUT=$work/deblend-job-weighted MODEL=$model PRESET=tiny TILE=32 WEIGHT=$field \
        ZERO_POINT=26.5 sbatch --parsable --ntasks=2 --output="$work/deblend-%j.out" jobs/deblend.sbatch) || return 1
  expect_job "$job" COMPLETED 0:0 "$work/deblend-$job.out" || return 1
  grep -q 'AB zero point 26.500 (--zero-point)' "$work/deblend-$job.out" || return 1
  cmp "$work/deblend-weighted/catalog.csv" "$work/deblend-job-weighted/catalog.csv" || return 1
  ! cmp -s "$work/deblend-plain/catalog.csv" "$work/deblend-weighted/catalog.csv" || { echo "WEIGHT/ZERO_POINT changed nothing"; return 1; }
  head -c 6000 "$field" > "$work/deblend-cut.fits"
  job=$(PAIS_BIN=$pais IMAGE=$work/deblend-cut.fits OUTPUT=$work/deblend-bad MODEL=$model PRESET=tiny TILE=32 \
        sbatch --parsable --ntasks=2 --output="$work/deblend-%j.out" jobs/deblend.sbatch) || return 1
  expect_job "$job" FAILED 1:0 "$work/deblend-$job.out" || return 1
  grep -q 'truncated' "$work/deblend-$job.out" || { echo "the log does not name the problem"; return 1; }
  [ ! -e "$work/deblend-bad" ] || { echo "a failed deblend job left $work/deblend-bad"; return 1; }
  ls -A "$work" | grep -q '^\.deblend-bad' && { echo "a failed deblend job left its staging directory"; return 1; }
  return 0
}

# jobs/deblend.sbatch over a list of images as a job array: each task writes what one process
# writes for its line (the second line with a weight map); an index past the list fails, naming it.
test_deblend_array() {
  local model=$work/$TRAIN_TAG-ref/model.safetensors job state list=$work/deblend-list.txt out=$work/deblend-array
  local first=$work/deblend-field.fits second=$work/deblend-second.fits
  [ -s "$model" ] || { echo "no model from the reference training run"; return 1; }
  [ -s "$first" ] || "$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --output "$first" >/dev/null 2>&1 || return 1
  "$pais" simulate --height 80 --width 100 --psf-size 31 --seed 6 --output "$second" >/dev/null 2>&1 || return 1
  local args=(--model "$model" --preset tiny --tile 32 --threads 1)
  "$pais" deblend "$first" "${args[@]}" --output "$work/deblend-first" >/dev/null 2>&1 || return 1
  "$pais" deblend "$second" "${args[@]}" --weight "$second" --output "$work/deblend-second" >/dev/null 2>&1 || return 1
  printf '# fields of the array test\n%s\n\n%s %s\n' "$first" "$second" "$second" > "$list"
  job=$(PAIS_BIN=$pais IMAGES=$list OUTPUT=$out MODEL=$model PRESET=tiny TILE=32 \
        sbatch --parsable --array=1-2 --ntasks=1 --output="$work/deblend-array-%A_%a.out" jobs/deblend.sbatch) || return 1
  for task in 1 2; do
    state=$(wait_job "${job}_$task" 120) || return 1
    cat "$work/deblend-array-${job}_$task.out"
    [ "$state" = COMPLETED ] || { echo "task $task: $state"; return 1; }
  done
  cmp "$work/deblend-first/catalog.csv" "$out/deblend-field/catalog.csv" || return 1
  cmp "$work/deblend-second/catalog.csv" "$out/deblend-second/catalog.csv" || return 1
  job=$(PAIS_BIN=$pais IMAGES=$list OUTPUT=$out MODEL=$model PRESET=tiny TILE=32 \
        sbatch --parsable --array=3 --ntasks=1 --output="$work/deblend-array-%A_%a.out" jobs/deblend.sbatch) || return 1
  state=$(wait_job "${job}_3" 60) || return 1
  cat "$work/deblend-array-${job}_3.out"
  [ "$state" = FAILED ] && grep -q 'lists 2 image(s), so the array indices are 1-2' "$work/deblend-array-${job}_3.out"
}

# --- run ------------------------------------------------------------------------------------------

echo "slurm-tests: work directory $work"
run_test "cluster starts, node idle with 4 CPUs" test_cluster_start
if ! sinfo -h >/dev/null 2>&1; then
  fail "no cluster: the remaining checks cannot run"
else
  run_test "selftest.sbatch, 2 ranks, srun --mpi=pmix" test_selftest_srun
  run_test "selftest.sbatch, 3 ranks, mpirun in the allocation" test_selftest_mpirun
  run_test "selftest.sbatch negative control (--corrupt-rank 1) fails" test_selftest_negative_control
  run_test "job scripts refuse to run outside Slurm" test_guard_outside_slurm

  # (An unknown subcommand with --help prints the root help and exits 0, so look for its usage line.)
  if "$pais" train --help 2>/dev/null | grep -q '^USAGE: pais train'; then
    TRAIN_CONFIG=${PAIS_TEST_CONFIG:-}
    if [ -z "$TRAIN_CONFIG" ]; then
      for candidate in "$repo"/configs/tiny.yaml "$repo"/configs/*tiny*.yaml; do
        [ -f "$candidate" ] && { TRAIN_CONFIG=$candidate; break; }
      done
    fi
    if [ ! -f "$TRAIN_CONFIG" ]; then
      fail "real trainer: no tiny training config (configs/tiny.yaml or configs/*tiny*.yaml; or set PAIS_TEST_CONFIG)"
    else
      echo "slurm-tests: the same checks with the real pais train ($TRAIN_CONFIG)"
      TRAIN_BIN=$pais TRAIN_TAG=pais TRAIN_PRESET=${PAIS_TEST_PRESET:-tiny} TRAIN_EPOCHS=${PAIS_TEST_EPOCHS:-2}
      # Enough steps that the stop signal (sent after the second metrics line) lands mid-run.
      TRAIN_STEPS=${PAIS_TEST_STEPS_PER_EPOCH:-150} TRAIN_BATCH=${PAIS_TEST_GLOBAL_BATCH:-16} TRAIN_SIGNAL_AFTER=2
      run_test "train.sbatch (pais): tiny 2-rank run writes model, metrics, config, checkpoints" test_train_reference
      run_test "train.sbatch (pais): USR1 -> checkpoint -> requeue -> resume, identical model.safetensors (srun)" test_train_signal_srun
      run_test "train.sbatch (pais): USR1 -> checkpoint -> requeue -> resume, identical model.safetensors (mpirun)" test_train_signal_mpirun
      run_test "train.sbatch (pais): preempted by the urgent partition, identical model.safetensors" test_train_preemption
      run_test "scaling.sbatch (pais): array 1-3 -> CSV table and summary" test_scaling_array
      run_test "deblend.sbatch (pais): 2 ranks under srun = one process, also with WEIGHT and ZERO_POINT; a truncated image fails cleanly" test_deblend_job
      run_test "deblend.sbatch (pais): IMAGES list as a job array, one output per line; an index past the list fails" test_deblend_array
    fi
  else
    fail "\`pais train --help\` does not work: the job scripts cannot be tested"
  fi
fi

if [ -n "$cluster_started" ]; then
  if "$cluster" stop; then pass "cluster stopped, no daemon or job process left"; else fail "cluster stop"; fi
  cluster_started=""
elif [ -n "$cluster_was_up" ]; then
  echo "slurm-tests: the cluster was running before the tests; left running"
fi
echo "slurm-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
