#!/usr/bin/env bash
# Multi-rank checks under real mpirun: the collective self-test at 1, 2 and 3 ranks (3 is
# oversubscribed on 2 cores), and `pais env` showing every rank. Every run has a time limit, so
# a hang fails the test instead of stalling CI. Ends with one "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=${PAIS:-.build/release/pais}  # override to test another build
passed=0
failed=0
skipped=0  # a check that cannot run here exits 77 and says why

check() {  # check NAME COMMAND...: run with a time limit, count the outcome
  local name=$1; shift
  local log
  log=$(mktemp)
  timeout --kill-after=10 180 "$@" >"$log" 2>&1
  local status=$?
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1)); echo "PASS  $name"
  elif [ "$status" -eq 77 ]; then
    skipped=$((skipped + 1)); echo "SKIP  $name: $(tail -1 "$log")"
  else
    failed=$((failed + 1)); echo "FAIL  $name (exit $status)"; sed 's/^/      /' "$log"
  fi
  rm -f "$log"
}

check "selftest, singleton (no mpirun)" "$pais" selftest
for ranks in 1 2 3; do
  check "selftest, mpirun -np $ranks" mpirun -np "$ranks" "$pais" selftest
done
check "env shows both ranks under mpirun -np 2" bash -c \
  "out=\$(mpirun -np 2 $pais env) && echo \"\$out\" && echo \"\$out\" | grep -q 'rank 0/2' && echo \"\$out\" | grep -q 'rank 1/2'"

# Fault injection: each must end with a non-zero status well inside the time limit (no hang).
check "selftest --corrupt-rank 1 fails under mpirun -np 3 and names rank 1" bash -c \
  "out=\$(mpirun -np 3 $pais selftest --corrupt-rank 1 2>/dev/null); status=\$?; echo \"\$out\"; [ \$status -ne 0 ] && echo \"\$out\" | grep -q 'failed on rank(s) 1]'"
check "injected count mismatch is caught by the fingerprint on every rank (mpirun -np 3)" bash -c \
  "out=\$(mpirun -np 3 $pais selftest --inject-mismatch-rank 2 2>/dev/null); status=\$?; echo \"\$out\"; [ \$status -ne 0 ] && echo \"\$out\" | grep -q 'rank(s) 2 differ from the majority'"
check "injected stall ends the job through the watchdog (exit 124, mpirun -np 2)" bash -c \
  "mpirun -np 2 $pais selftest --inject-stall-rank 1 --watchdog-seconds 2; [ \$? -eq 124 ]"

check "pais deblend: mpirun -np 2 writes the same catalog as one rank (and -np 3 in 4 blocks, rank 0 running fewer tiles), with --views 8, a subtracted sky, measured bands, weight maps, forced centres, noise matching and a binned 0.03\" mosaic too; ranks that disagree stop" env PAIS="$pais" bash scripts/deblend-mpi-test.sh
check "a full disk: pais train and pais deblend under mpirun -np 2 stop with \"No space left on device\", keep the checkpoints and the previous output (pais evaluate: the previous report, whole), and the run resumes once there is room; a full TMPDIR is named before MPI_Init" env PAIS="$pais" bash scripts/disk-full-test.sh
check "pais deblend: SIGTERM to both ranks or Ctrl-C to mpirun stops the job and leaves no output or staging directory" env PAIS="$pais" bash scripts/deblend-interrupt-test.sh

echo "mpi-tests: $passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ "$failed" -eq 0 ]
