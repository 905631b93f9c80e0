#!/usr/bin/env bash
# A full disk under mpirun -np 2: `pais train` and `pais deblend` (and `pais evaluate`) must stop on every rank with an
# error that names the file and "No space left on device", leave no partial file or staging
# directory, and keep what was there before (checkpoints, a previous deblend, a previous
# evaluation report) byte for byte. And MPI started with a full TMPDIR is named as the cause.
# Needs root to mount small tmpfs file systems; exits 77 (skipped) where that is not allowed.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=${PAIS:-$PWD/.build/release/pais}
work=$(mktemp -d)
disk=$work/disk
mkdir "$disk"
trap 'umount "$disk" 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
mount -t tmpfs -o size=64k tmpfs "$disk" 2>/dev/null || { echo "cannot mount a tmpfs here (root needed)"; exit 77; }
umount "$disk"

# fresh KB: a fresh file system of KB kilobytes at $disk (its contents are lost).
fresh() { umount "$disk" 2>/dev/null || true; mount -t tmpfs -o size="$1k" tmpfs "$disk"; }
# fill_to KB: leaves about KB kilobytes free on $disk.
fill_to() {
  local free; free=$(df -Pk "$disk" | awk 'NR == 2 { print $4 }')
  [ "$free" -gt "$1" ] && dd if=/dev/zero of="$disk/ballast" bs=1k count=$((free - $1)) status=none
  return 0
}
# digest DIR [NAME...]: the checksums of DIR's files, or of its entries NAME... (recursively).
digest() { local dir=$1; shift; (cd "$dir" && find "${@:-.}" -type f -print0 | sort -z | xargs -0 sha256sum); }
# fails NAME MPIRUN-ARGS...: the run must fail within 120 s (no hang), naming the cause.
fails() {
  local name=$1; shift
  if timeout 120 mpirun -np 2 "$@" > "$work/$name.log" 2>&1; then echo "$name: the run succeeded on a full disk"; exit 1; fi
  grep -q "No space left on device" "$work/$name.log" || { echo "$name: the error does not name the cause"; tail -20 "$work/$name.log"; exit 1; }
  grep -q "Fatal error\|Program crashed" "$work/$name.log" && { echo "$name: crashed"; tail -20 "$work/$name.log"; exit 1; }
  leftovers=$(find "$disk" -name '*.partial*' -o -name '*.spill' -o -name '*.replaced')
  [ -z "$leftovers" ] || { echo "$name: left $leftovers"; exit 1; }
}

# Training: a finished run, continued for two more epochs with 100 kB free. Its checkpoints and
# model stay as they were, its log ends in a whole line, and with room again it resumes.
timeout 120 mpirun -np 2 "$pais" train --config configs/tiny.yaml --run-dir "$work/run" > "$work/setup.log" 2>&1 \
  || { echo "setup: the tiny training failed"; tail -5 "$work/setup.log"; exit 1; }
fresh 4096
cp -r "$work/run" "$disk/run"
before=$(digest "$disk/run" checkpoints model.safetensors)
fill_to 100
fails train "$pais" train --config configs/tiny.yaml --run-dir "$disk/run" --epochs 6
grep -q "could not write the checkpoint" "$work/train.log" || { echo "train: no checkpoint named"; exit 1; }
grep -q "^warning: $disk/run has [0-9.]* MB free, and this run needs about" "$work/train.log" || { echo "train: no warning at the start"; exit 1; }
[ "$(digest "$disk/run" checkpoints model.safetensors)" = "$before" ] || { echo "train: the checkpoints or the model changed"; cat "$work/train.log" | grep -v "^  " | tail; exit 1; }
[ -z "$(tail -c 1 "$disk/run/metrics.jsonl")" ] || { echo "train: metrics.jsonl ends in half a line"; exit 1; }
awk '!/^\{.*\}$/ { print "train: metrics.jsonl line " NR " is not a whole record: " $0; bad = 1 } END { exit bad }' "$disk/run/metrics.jsonl"
rm "$disk/ballast"
timeout 120 mpirun -np 2 "$pais" train --config configs/tiny.yaml --run-dir "$disk/run" --epochs 6 > "$work/resume.log" 2>&1 \
  || { echo "train: no resume once there was room"; tail -5 "$work/resume.log"; exit 1; }
grep -q "finished 48 steps" "$work/resume.log" || { echo "train: the resumed run did not finish"; tail -5 "$work/resume.log"; exit 1; }
echo "train: stopped on both ranks, checkpoints kept, resumed once there was room"

# Deblending: --overwrite of a previous output with too little room for the new one.
deblend=("$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32)
{ "$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --output "$work/field.fits" \
    && timeout 120 mpirun -np 2 "${deblend[@]}" --output "$work/out"; } > "$work/setup.log" 2>&1 \
  || { echo "setup: simulating or deblending the field failed"; tail -5 "$work/setup.log"; exit 1; }
fresh 4096
cp -r "$work/out" "$disk/out"
before=$(digest "$disk/out")
fill_to 40
fails deblend "${deblend[@]}" --output "$disk/out" --overwrite
[ "$(digest "$disk/out")" = "$before" ] || { echo "deblend: the previous output changed"; exit 1; }
echo "deblend: stopped on both ranks, the previous output kept"

# Scoring: the report files are replaced all or none. The previous set names another method, so
# any file replaced shows; there is room for the new report.json but not for the whole set.
"$pais" evaluate --truth "$work/field.fits" --deblend "$work/out" --output "$work/eval" --no-plots --method before > "$work/setup.log" 2>&1 \
  || { echo "setup: the first evaluation failed"; tail -5 "$work/setup.log"; exit 1; }
fresh 4096
cp -r "$work/eval" "$disk/eval"
before=$(digest "$disk/eval")
fill_to $(( ($(stat -c %s "$work/eval/report.json") + 4095) / 4096 * 4 + 2 ))
if "$pais" evaluate --truth "$work/field.fits" --deblend "$work/out" --output "$disk/eval" --no-plots > "$work/eval.log" 2>&1; then
  echo "evaluate: succeeded on a full disk"; exit 1
fi
grep -q "^Error: .*No space left on device" "$work/eval.log" || { echo "evaluate: the error does not name the cause"; tail -3 "$work/eval.log"; exit 1; }
[ "$(digest "$disk/eval")" = "$before" ] || { echo "evaluate: the previous report was partly replaced"; exit 1; }
[ -z "$(find "$disk" -name '*.partial*')" ] || { echo "evaluate: left a partial file"; exit 1; }
echo "evaluate: stopped, the previous report kept whole"

# Starting MPI with a full TMPDIR: Open MPI's own errors do not name the cause; PAIS's line does.
fresh 4096
fill_to 0
TMPDIR=$disk timeout 60 "$pais" selftest > "$work/mpi.log" 2>&1 || true  # whether MPI_Init survives depends on the Open MPI build
grep -q "^warning: $disk has [0-9]* kB free; Open MPI keeps its session files there" "$work/mpi.log" \
  || { echo "MPI start: no warning naming $disk"; head -5 "$work/mpi.log"; exit 1; }
echo "MPI start: a full TMPDIR is named before MPI_Init"
