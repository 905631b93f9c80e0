#!/usr/bin/env python3
"""Extends fixture-tiny with a short Adam trajectory from the TF reference.

Uses tf_reference.py's own model, loss and optimiser (imported, not copied): loads the fixture's
initial weights into the tiny model, runs STEPS training steps (BN in training mode, dropout off)
with Adam(1e-4, 0.9, 0.999, 1e-7) on the fixture batch, and writes

  adam_trajectory.json         loss terms before each update, and per-tensor sums afterwards
  adam_final_weights.safetensors  all weights (incl. BN moving stats) after the last update,
                                  written with numpy in the safetensors layout (F32, LE)

Usage (from the repository root):
  /work/tfenv/bin/python tools/dump_adam_trajectory.py \
      --reference /work/shared/reference --fixture Tests/NetworkTests/Fixtures/fixture-tiny
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def read_fixture(fixture, group):
    with open(os.path.join(fixture, "manifest.json")) as fh:
        manifest = json.load(fh)
    out = {}
    for t in manifest["tensors"]:
        if t["group"] == group:
            a = np.fromfile(os.path.join(fixture, t["file"]), dtype="<f4",
                            count=int(np.prod(t["shape"])), offset=t["offset_bytes"])
            out[t["name"]] = a.reshape(t["shape"])
    return manifest, out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default="/work/shared/reference")
    ap.add_argument("--fixture", default="Tests/NetworkTests/Fixtures/fixture-tiny")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, args.reference)
    import tensorflow as tf
    import tf_reference as ref

    manifest, weights = read_fixture(args.fixture, "weights")
    _, batch = read_fixture(args.fixture, "batch")
    cfg = manifest["config"]
    model, _ = ref.build_model(cfg["size"], cfg["widths"], cfg["n"], rate=0.0)
    for v in model.weights:
        v.assign(weights[v.name.split(":")[0]])
    opt = tf.keras.optimizers.Adam(**ref.ADAM)
    flux, cv, cm, com = (tf.constant(batch[k]) for k in ("flux", "claim_vectors", "claim_maps", "center_of_mass"))
    losses = []
    for _ in range(args.steps):
        with tf.GradientTape() as tape:
            terms = ref.loss_terms(flux, (cv, cm, com), model(flux, training=True))
        grads = tape.gradient(terms["total"], model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        losses.append({k: float(v.numpy()) for k, v in terms.items()})
    final = {v.name.split(":")[0]: v.numpy() for v in model.weights}
    write_safetensors(os.path.join(args.fixture, "adam_final_weights.safetensors"), final)
    out = {"description": "tools/dump_adam_trajectory.py: Adam steps on the fixture batch",
           "tensorflow": tf.__version__, "steps": args.steps, "adam": ref.ADAM,
           "losses_before_each_update": losses,
           "final_weight_sums": {k: float(np.sum(a, dtype=np.float64)) for k, a in final.items()}}
    with open(os.path.join(args.fixture, "adam_trajectory.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print("losses:", [round(l["total"], 6) for l in losses])


if __name__ == "__main__":
    main()
