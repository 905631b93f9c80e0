#!/usr/bin/env python3
"""Average several model files of the same preset, tensor by tensor (a weight-averaging test).

    tools/average-models.py OUT.safetensors A.safetensors B.safetensors [C.safetensors ...]

Every tensor of OUT is the float64 mean of the inputs' tensors of that name, stored in the last
input's dtype; OUT keeps the last input's metadata (its preset, training sky noise). The BN moving
statistics are averaged too, which does not make them the averaged weights' statistics: recompute
them before use (`pais recalibrate OUT --dataset D --samples 512 --output OUT2`). BENCHMARKS.md,
"Averaging views with the symmetric templates", averaged the third to fifth shipped stages
(`git show d37181c:models/pais-small-sim.safetensors`, `6a210a8:...` and the current file) this
way; it did not help. Needs numpy.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read(path):
    blob = open(path, "rb").read()
    size = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + size])
    data = blob[8 + size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return header, tensors


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, inputs = sys.argv[1], [read(p) for p in sys.argv[2:]]
    last_header, last = inputs[-1]
    for path, (_, tensors) in zip(sys.argv[2:], inputs):
        if set(tensors) != set(last) or any(tensors[k].shape != last[k].shape for k in last):
            sys.exit(f"error: {path} does not hold the same tensors as {sys.argv[-1]}")
    means = {name: np.mean([t[name].astype(np.float64) for _, t in inputs], axis=0).astype(tensor.dtype)
             for name, tensor in last.items()}
    write(out, last_header.get("__metadata__", {}), means)
    print(f"wrote {out}: the mean of {len(inputs)} models, {len(last)} tensors")


def write(path, metadata, tensors):
    """A safetensors file of `tensors` (name: numpy array, F32 / F64 / I64) in that order."""
    names = {np.dtype(v): k for k, v in DTYPES.items()}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, tensor in tensors.items():
        raw = np.ascontiguousarray(tensor).tobytes()
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


if __name__ == "__main__":
    main()
