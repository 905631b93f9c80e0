#!/usr/bin/env python3
"""Show or set the string metadata of a safetensors model file, leaving its tensors untouched.

    tools/model-metadata.py models/pais-small-sim.safetensors                  # show
    tools/model-metadata.py M.safetensors pais_sky_rms=white=0.00113..0.0114   # set (atomic rewrite)
    tools/model-metadata.py M.safetensors --tensors fr_                        # size of the tensors named fr_*

--tensors PREFIX prints, for each float32 tensor whose name starts with PREFIX, its shape, largest
|value| and rms, and the rms of each slice along its last axis (a conv's output channels): how far
a layer has moved from its start (models/README.md, "A full-resolution branch").

`pais deblend` reads `pais_sky_rms` (the sky noise the model was trained on) and `pais_input_ceiling`
(the ceiling on what its network sees); models/README.md.
Standard library only.
"""
import json
import os
import struct
import sys
import tempfile


def split(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        sys.exit(f"error: {path}: {e.strerror}")
    if len(data) < 8:
        sys.exit(f"error: {path}: too short for a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        sys.exit(f"error: {path}: header length {length} exceeds the file")
    return json.loads(data[8:8 + length]), data[8 + length:]


def tensor_sizes(header, body, prefix):
    for name in sorted(k for k in header if k != "__metadata__" and k.startswith(prefix)):
        entry = header[name]
        if entry.get("dtype") != "F32":
            continue
        start, end = entry["data_offsets"]
        values = struct.unpack(f"<{(end - start) // 4}f", body[start:end])
        shape = entry["shape"]
        rms = (sum(v * v for v in values) / max(len(values), 1)) ** 0.5
        line = f"{name} {shape} max|x| {max(map(abs, values), default=0):.4f} rms {rms:.4f}"
        last = shape[-1] if shape else 1
        if len(shape) > 1 and last > 1:
            channels = [values[c::last] for c in range(last)]
            line += " by last axis " + " ".join(f"{(sum(v * v for v in ch) / len(ch)) ** 0.5:.4f}" for ch in channels)
        print(line)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    path, settings = argv[0], argv[1:]
    header, body = split(path)
    if settings[:1] == ["--tensors"]:
        if len(settings) != 2:
            sys.exit("error: --tensors needs one name prefix")
        tensor_sizes(header, body, settings[1])
        return 0
    metadata = header.get("__metadata__", {})
    if not settings:
        for key in sorted(metadata):
            print(f"{key}={metadata[key]}")
        return 0
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            sys.exit(f"error: expected KEY=VALUE, got {setting!r}")
        metadata[key] = value
    header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded + body)
    os.chmod(out.name, os.stat(path).st_mode & 0o777)
    os.replace(out.name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
