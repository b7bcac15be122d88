#!/usr/bin/python3
"""PyTorch side of the hm-train row of bench/run.sh (make bench): training
steps of IResNet-18 with an ArcFace head and SGD, as hm-train runs them.

    bench/train_torch.py [THREADS [BATCH [ITERS [RUNS]]]]   (2 64 3 3)

The network is insightface arcface_torch's iresnet.py IResNet-18 (IBasicBlock:
BN, conv3x3, BN, PReLU, conv3x3 with the stride, BN, plus a conv1x1 + BN
shortcut; stem conv3x3 + BN + PReLU; head BN2d, dropout 0, FC to 512, BN1d),
written out here; the head is arcface-pytorch's ArcMarginProduct (s 64,
m 0.5) with cross-entropy; the optimiser torch.optim.SGD(lr 0.1, momentum
0.9, weight_decay 5e-4).  Input: random 3x112x112 batches (hm-train decodes
JPEGs on a background thread, which costs it nothing measurable).  Each run
times ITERS steps and keeps the median of all but the first; the result is
the median over RUNS runs, printed as "torch: N img/s" (bench/run.sh runs
it once per run, RUNS 1, interleaved with hm-train, and takes its peak RSS
from /usr/bin/time).
"""
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, 3, stride, 1, bias=False)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                nn.BatchNorm2d(planes, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet18(nn.Module):
    def __init__(self, emb=512):
        super().__init__()
        self.conv1 = conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        layers, inplanes = [], 64
        for planes in (64, 128, 256, 512):
            layers += [IBasicBlock(inplanes, planes, 2), IBasicBlock(planes, planes)]
            inplanes = planes
        self.layers = nn.Sequential(*layers)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, emb)
        self.features = nn.BatchNorm1d(emb, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.layers(self.prelu(self.bn1(self.conv1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


class ArcMargin(nn.Module):
    def __init__(self, emb, classes, s=64.0, m=0.5):
        super().__init__()
        self.weight = nn.Parameter(torch.normal(0, 0.01, (classes, emb)))
        self.s, self.m = s, m
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th, self.mm = math.cos(math.pi - m), math.sin(math.pi - m) * m

    def forward(self, x, label):
        cosine = F.linear(F.normalize(x), F.normalize(self.weight)).clamp(-1, 1)
        sine = torch.sqrt((1.0 - cosine * cosine).clamp(min=1e-12))
        phi = cosine * self.cos_m - sine * self.sin_m
        phi = torch.where(cosine > self.th, phi, cosine - self.mm)
        one_hot = F.one_hot(label, cosine.shape[1]).to(cosine.dtype)
        return self.s * (one_hot * phi + (1.0 - one_hot) * cosine)


def one_run(batch, iters, classes=100):
    torch.manual_seed(0)
    net, head = IResNet18(), ArcMargin(512, classes)
    net.train()
    opt = torch.optim.SGD([{"params": [p for p in net.parameters() if p.requires_grad]},
                           {"params": head.parameters()}],
                          lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 112, 112)
    y = torch.randint(0, classes, (batch,))
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(head(net(x), y), y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times[1:] if len(times) > 1 else times)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    torch.set_num_threads(threads)
    rates = [one_run(batch, iters) for _ in range(runs)]
    print("torch: %.3f img/s (runs: %s; torch %s, %d threads, batch %d)" %
          (statistics.median(rates), " ".join("%.3f" % r for r in rates),
           torch.__version__, threads, batch))


if __name__ == "__main__":
    main()
