"""PyTorch reference modules for the suite's backbones (float64), shared by
tests/ref/model_torch.py, tests/ref/embed_torch.py and bench/model.sh.

Written from the upstream sources (insightface arcface_torch/backbones/
iresnet.py: IBasicBlock, IResNet; arcface-pytorch models/resnet.py: IRBlock,
SEBlock, ResNetFace), with the same state_dict names, generalised to any
depths, widths and input size.  reference(arch, in_c, in_h, in_w, emb)
parses an architecture string (model.h) independently of the C code and
returns the module in float64 with dropout 0.

A library, not a test: not executable, so prove does not run it.
"""
import torch
import torch.nn as nn


class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    def __init__(self, depths, widths, in_c, in_h, in_w, emb, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0], eps=1e-05)
        self.prelu = nn.PReLU(widths[0])
        inplanes, h, w = widths[0], in_h, in_w
        for s, (d, planes) in enumerate(zip(depths, widths)):
            ds = nn.Sequential(nn.Conv2d(inplanes, planes, 1, 2, bias=False),
                               nn.BatchNorm2d(planes, eps=1e-05))
            blocks = [IBasicBlock(inplanes, planes, 2, ds)]
            blocks += [IBasicBlock(planes, planes, 1, None) for _ in range(1, d)]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
            inplanes, h, w = planes, (h + 1) // 2, (w + 1) // 2
        self.n_stages = len(depths)
        self.bn2 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(inplanes * h * w, emb)
        self.features = nn.BatchNorm1d(emb, eps=1e-05)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        for s in range(self.n_stages):
            x = getattr(self, "layer%d" % (s + 1))(x)
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


class SEBlock(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // reduction), nn.PReLU(),
                                nn.Linear(channel // reduction, channel), nn.Sigmoid())

    def forward(self, x):
        b, c = x.shape[:2]
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)


class IRBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, downsample, use_se):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, inplanes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.use_se = use_se
        if use_se:
            self.se = SEBlock(planes)

    def forward(self, x):
        out = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(self.bn0(x))))))
        if self.use_se:
            out = self.se(out)
        residual = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + residual)


class ResNetFace(nn.Module):
    def __init__(self, depths, widths, in_c, in_h, in_w, emb, use_se, dropout=0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_c, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        inplanes, h, w = widths[0], in_h // 2, in_w // 2
        for s, (d, planes) in enumerate(zip(depths, widths)):
            stride = 1 if s == 0 else 2
            ds = None
            if stride != 1 or inplanes != planes:
                ds = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes))
            blocks = [IRBlock(inplanes, planes, stride, ds, use_se)]
            blocks += [IRBlock(planes, planes, 1, None, use_se) for _ in range(1, d)]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
            inplanes = planes
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
        self.n_stages = len(depths)
        self.bn4 = nn.BatchNorm2d(inplanes)
        self.dropout = nn.Dropout(p=dropout)
        self.fc5 = nn.Linear(inplanes * h * w, emb)
        self.bn5 = nn.BatchNorm1d(emb)

    def forward(self, x):
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        for s in range(self.n_stages):
            x = getattr(self, "layer%d" % (s + 1))(x)
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(x.view(x.size(0), -1)))


def reference(arch, in_c, in_h, in_w, emb):
    """The module for an architecture string (parsed independently)."""
    named = {"ir18": "ir:2,2,2,2:64,128,256,512",
             "face18": "face:2,2,2,2:64,128,256,512",
             "face18:se": "face:2,2,2,2:64,128,256,512:se"}
    parts = named.get(arch, arch).split(":")
    depths = [int(v) for v in parts[1].split(",")]
    widths = [int(v) for v in parts[2].split(",")]
    if parts[0] == "ir":
        return IResNet(depths, widths, in_c, in_h, in_w, emb, dropout=0.0).double()
    return ResNetFace(depths, widths, in_c, in_h, in_w, emb, use_se=len(parts) > 3,
                      dropout=0.0).double()
