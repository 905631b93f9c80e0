#!/usr/bin/env python3
"""A model file with more slots (n) that starts out deblending as the given one does.

    tools/extend-slots.py IN.safetensors OUT.safetensors N

Only the two output heads' last 1×1 convolutions depend on n: `cv_conv1` (2n claim-vector
channels, (dy, dx) per slot) and `cm_conv1` (n claim-map logits). Each new slot copies the last
slot's filters, and the last slot's map bias and the copies' are lowered by ln(N − n + 1), so
the softmax gives the old last slot's share split evenly over it and its copies: the same
per-pixel shares per source, and vectors that repeat the last slot's (which the decoder's
`--repeated-owners fill` then hands to the next nearest sources). Training from OUT on labels
with N slots (`pais simulate-dataset --n N`) teaches the copies their own sources; OUT records
`pais_slots` = N, which `pais deblend`, `pais evaluate` and `pais recalibrate` read.
models/README.md, "Five slots" (session 32). Needs numpy.
"""
import importlib.util
import math
import os
import sys

import numpy as np

spec = importlib.util.spec_from_file_location("average_models", os.path.join(os.path.dirname(__file__), "average-models.py"))
safetensors = importlib.util.module_from_spec(spec); spec.loader.exec_module(safetensors)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    source, out, wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
    header, tensors = safetensors.read(source)
    n = tensors["cm_conv1/bias"].shape[0]
    if wanted <= n:
        sys.exit(f"error: {source} already has {n} slots; N must be more")
    copies = wanted - n
    last = slice(2 * (n - 1), 2 * n)
    tensors["cv_conv1/kernel"] = np.concatenate([tensors["cv_conv1/kernel"]] + [tensors["cv_conv1/kernel"][..., last]] * copies, axis=-1)
    tensors["cv_conv1/bias"] = np.concatenate([tensors["cv_conv1/bias"]] + [tensors["cv_conv1/bias"][last]] * copies)
    kernel, bias = tensors["cm_conv1/kernel"], tensors["cm_conv1/bias"].astype(np.float64)
    bias[n - 1] -= math.log(copies + 1)
    tensors["cm_conv1/kernel"] = np.concatenate([kernel] + [kernel[..., n - 1:n]] * copies, axis=-1)
    tensors["cm_conv1/bias"] = np.concatenate([bias] + [bias[n - 1:n]] * copies).astype(np.float32)
    metadata = dict(header.get("__metadata__", {}))
    metadata["pais_slots"] = str(wanted)
    safetensors.write(out, metadata, tensors)
    print(f"wrote {out}: {n} -> {wanted} slots")


if __name__ == "__main__":
    main()
