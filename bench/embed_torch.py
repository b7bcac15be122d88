#!/usr/bin/python3
"""PyTorch side of the hm-embed row of bench/run.sh (make bench): inference
of the same network (tests/ref/torch_models.py's reference module, the one
the parity tests check hm's model against, in float32), eval mode, under
torch.no_grad(), same batch and thread count.

    bench/embed_torch.py THREADS BATCH BATCHES [ARCH]     (ARCH ir18)

Input: random 3x112x112 batches (1x128x128 for face archs).  One untimed
warm-up batch, then BATCHES timed ones; prints "torch_embed: N img/s"
(images over their total time) and the torch version.  One forward per
image, as hm-embed --flip none.
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from torch_models import reference  # noqa: E402


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: embed_torch.py THREADS BATCH BATCHES [ARCH]")
    threads, batch, batches = (int(v) for v in sys.argv[1:4])
    arch = sys.argv[4] if len(sys.argv) > 4 else "ir18"
    torch.set_num_threads(threads)
    c, s = (3, 112) if arch.startswith("ir") else (1, 128)
    torch.manual_seed(0)
    model = reference(arch, c, s, s, 512).float().eval()
    x = torch.rand(batch, c, s, s) * 2 - 1
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(batches):
            model(x)
        t = time.perf_counter() - t0
    print("torch_embed: %.3f img/s (torch %s, %d threads, batch %d)" %
          (batch * batches / t, torch.__version__, threads, batch))


if __name__ == "__main__":
    main()
