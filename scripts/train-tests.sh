#!/usr/bin/env bash
# The coordinator under real mpirun: rank-count invariance, exact resume after a stop signal
# and after a killed rank, and ranks that disagree. Bounded waits everywhere; ends with one
# "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=$PWD/.build/release/pais
work=$(mktemp -d /tmp/pais-train-tests.XXXXXX)
trap 'pkill -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && sed 's/^/      /' "$2" | tail -20; }
weights() { sha256sum "$1/model.safetensors" 2>/dev/null | cut -d' ' -f1; }
# A tiny run long enough to interrupt (about 10 s at 2 ranks on 2 cores).
long=(--tiny --set synthetic_train=64 --set epochs=40 --set steps_per_epoch=8 --set checkpoint_every_steps=8)
wait_for() {  # wait_for SECONDS COMMAND...: poll until the command succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.2; done
}

# 1. Reproducible mode: the same bits at 1 (no mpirun), 2 and 4 (oversubscribed) ranks, with
#    one compute thread per rank (the engine's per-thread partial sums depend on the thread count).
repro=(--tiny --set reduction=reproducible --set bn_mode=groups=4 --set epochs=2)
timeout 120 "$pais" train "${repro[@]}" --threads 1 --run-dir "$work/r1" >"$work/r1.log" 2>&1
timeout 120 mpirun -np 2 "$pais" train "${repro[@]}" --run-dir "$work/r2" >"$work/r2.log" 2>&1
timeout 180 mpirun -np 4 "$pais" train "${repro[@]}" --run-dir "$work/r4" >"$work/r4.log" 2>&1
if [ -n "$(weights "$work/r1")" ] && [ "$(weights "$work/r1")" = "$(weights "$work/r2")" ] && [ "$(weights "$work/r2")" = "$(weights "$work/r4")" ]; then
  pass "reproducible mode: identical weights at 1, 2 and 4 ranks"
else
  fail "reproducible mode: weights differ across rank counts ($(weights "$work/r1") $(weights "$work/r2") $(weights "$work/r4"))" "$work/r4.log"
fi

# 2. The uninterrupted reference for the interruption tests.
timeout 300 mpirun -np 2 "$pais" train "${long[@]}" --run-dir "$work/ref" >"$work/ref.log" 2>&1
reference=$(weights "$work/ref")
[ -n "$reference" ] && pass "reference run finished" || fail "reference run" "$work/ref.log"

# 3. SIGUSR1 to mpirun (as Slurm's --signal does): checkpoint, exit 75, resume to the same weights.
mpirun -np 2 "$pais" train "${long[@]}" --run-dir "$work/sig" >"$work/sig.log" 2>&1 &
job=$!
wait_for 120 test -d "$work/sig/checkpoints/step-00000016" && kill -USR1 "$job"
wait_for 60 bash -c "! kill -0 $job 2>/dev/null"
wait "$job"; status=$?
if [ "$status" -eq 75 ] && grep -q "stop requested" "$work/sig.log"; then
  timeout 300 mpirun -np 2 "$pais" train "${long[@]}" --run-dir "$work/sig" >>"$work/sig.log" 2>&1
  if [ "$(weights "$work/sig")" = "$reference" ]; then pass "SIGUSR1: checkpoint, exit 75, resume to identical weights"
  else fail "SIGUSR1: resumed weights differ from the uninterrupted run" "$work/sig.log"; fi
else
  fail "SIGUSR1: expected exit 75 after a checkpoint, got $status" "$work/sig.log"
fi

# 4. kill -9 one rank mid-epoch: the job ends non-zero within seconds; --resume auto finishes
#    with the same weights as the uninterrupted run.
mpirun -np 2 "$pais" train "${long[@]}" --run-dir "$work/kill" >"$work/kill.log" 2>&1 &
job=$!
wait_for 120 test -d "$work/kill/checkpoints/step-00000016"
victim=$(pgrep -P "$job" -f "pais train" | tail -1)
killed_at=$SECONDS
kill -9 "$victim"
wait_for 30 bash -c "! kill -0 $job 2>/dev/null"
wait "$job"; status=$?
took=$((SECONDS - killed_at))
if [ "$status" -ne 0 ] && [ "$took" -le 30 ]; then
  timeout 300 mpirun -np 2 "$pais" train "${long[@]}" --run-dir "$work/kill" --resume auto >>"$work/kill.log" 2>&1
  if [ "$(weights "$work/kill")" = "$reference" ]; then pass "kill -9 of a rank: job ended in ${took}s (exit $status); resume reached identical weights"
  else fail "kill -9: resumed weights differ from the uninterrupted run" "$work/kill.log"; fi
else
  fail "kill -9: job exit $status after ${took}s" "$work/kill.log"
fi

# 5. A corrupt newest checkpoint (one flipped byte) is skipped for the previous one.
newest=$(ls -d "$work/ref/checkpoints"/step-* | tail -1)
printf '\xff' | dd of="$newest/state.bin" bs=1 seek=100 conv=notrunc status=none
timeout 120 "$pais" train "${long[@]}" --run-dir "$work/ref" --set epochs=41 >"$work/corrupt.log" 2>&1
if grep -q "skipping checkpoint: .*$(basename "$newest").*SHA-256" "$work/corrupt.log" && grep -q "resuming from .*step-" "$work/corrupt.log"; then
  pass "corrupt newest checkpoint detected; the previous one was used"
else
  fail "corrupt checkpoint fallback" "$work/corrupt.log"
fi

# 6. Ranks that disagree (another learning rate on rank 1): a clear error naming the rank, fast.
started=$SECONDS
timeout 60 mpirun -np 1 "$pais" train --tiny --run-dir "$work/dis" : -np 1 "$pais" train --tiny --run-dir "$work/dis" --learning-rate 0.01 >"$work/dis.log" 2>&1
status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q "rank 1" "$work/dis.log" && grep -q "config" "$work/dis.log"; then
  pass "disagreeing ranks: error names rank 1 after $((SECONDS - started))s"
else
  fail "disagreeing ranks (exit $status)" "$work/dis.log"
fi

echo "train-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
