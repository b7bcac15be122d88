"""Reads and writes hm model files (.hmm, hm-model(5)) with numpy, and
loads them into PyTorch modules.

The part between the "loader" markers is printed verbatim in the man page
hm-model(5) (tests/ref/model_torch.py checks that they agree).  write_hmm()
is the inverse, for tests and for converting PyTorch weights to hm.
"""
import struct
import zlib

import numpy as np

# --- loader begin
import struct, zlib
import numpy as np
import torch

def read_hmm(path):
    """Returns (metadata dict, {name: float32 array}) of an .hmm file."""
    b = open(path, "rb").read()
    magic, version, n_kv, n_t = struct.unpack_from("<4sIII", b, 0)
    if magic != b"HMM" + bytes([26]) or version != 1:
        raise ValueError(path + ": not an hm model file, version 1")
    def u32(pos):
        return struct.unpack_from("<I", b, pos)[0]
    def text(pos):
        end = pos + 4 + u32(pos)
        return b[pos + 4:end].decode(), end
    pos, meta, tensors = 16, {}, {}
    for _ in range(n_kv):
        key, pos = text(pos)
        meta[key], pos = text(pos)
    if u32(pos) != zlib.crc32(b[:pos]):
        raise ValueError(path + ": metadata CRC mismatch")
    pos += 4
    for _ in range(n_t):
        start = pos
        name, pos = text(pos)
        ndim = u32(pos)
        shape = struct.unpack_from("<%dQ" % ndim, b, pos + 4)
        pos += 4 + 8 * ndim
        count = int(np.prod(shape))
        tensors[name] = np.frombuffer(b, "<f4", count, pos).reshape(shape)
        pos += 4 * count
        if u32(pos) != zlib.crc32(b[start:pos]):
            raise ValueError(path + ": tensor " + name + ": CRC mismatch")
        pos += 4
    if b[pos:] != b"END" + bytes([26]):
        raise ValueError(path + ": bad end marker")
    return meta, tensors

def load_into(module, path):
    """Copies every tensor of MODULE's state_dict from the file (BN's
    num_batches_tracked is not stored); returns (metadata, tensors)."""
    meta, tensors = read_hmm(path)
    for name, value in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if tensors[name].shape != tuple(value.shape):
            raise ValueError(path + ": tensor " + name + ": shape mismatch")
        value.copy_(torch.from_numpy(tensors[name].copy()))
    return meta, tensors
# --- loader end


def write_hmm(path, meta, tensors):
    """Writes META (dict of str) and TENSORS (dict of name -> array, in
    order) as an .hmm file."""
    out = [b"HMM" + bytes([26]), struct.pack("<III", 1, len(meta), len(tensors))]
    for k, v in meta.items():
        for s in (k.encode(), str(v).encode()):
            out.append(struct.pack("<I", len(s)) + s)
    head = b"".join(out)
    parts = [head, struct.pack("<I", zlib.crc32(head))]
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype="<f4")
        n = name.encode()
        entry = (struct.pack("<I", len(n)) + n + struct.pack("<I", a.ndim) +
                 struct.pack("<%dQ" % a.ndim, *a.shape) + a.tobytes())
        parts.append(entry + struct.pack("<I", zlib.crc32(entry)))
    parts.append(b"END" + bytes([26]))
    with open(path, "wb") as f:
        f.write(b"".join(parts))
