"""MobileNetV2 encoder (torchvision layout, dilated tail) for the BGMv2 base network."""
import paddle.nn as nn

from .batchnorm import BatchNorm2D

__all__ = ["MobileNetV2Encoder"]

# (expansion t, output channels c, repeats n, first stride s), as torchvision's MobileNetV2.
_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn_relu6(in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1):
    padding = (kernel_size - 1) // 2 * dilation
    return nn.Sequential(
        nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, bias_attr=False),
        BatchNorm2D(out_channels),
        nn.ReLU6())


class InvertedResidual(nn.Layer):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1, linear); residual when shapes allow."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio, dilation=1):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = [] if expand_ratio == 1 else [_conv_bn_relu6(in_channels, hidden, 1)]
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride=stride, dilation=dilation, groups=hidden),
            nn.Conv2D(hidden, out_channels, 1, bias_attr=False),
            BatchNorm2D(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Encoder(nn.Layer):
    """MobileNetV2 encoder with output stride 16: features[18] removed, features[14] not strided,
    features[15..17] with dilation 2.

    Input:
        x: (B, in_channels, H, W).
    Output:
        (x4, x3, x2, x1, x0): (B, 320, H/16, W/16), (B, 32, H/8, W/8), (B, 24, H/4, W/4),
        (B, 16, H/2, W/2) and the input itself.
    """

    def __init__(self, in_channels):
        super().__init__()
        features = [_conv_bn_relu6(in_channels, 32, 3, stride=2)]
        channels = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                index = len(features)
                stride = s if i == 0 and index != 14 else 1
                dilation = 2 if index >= 15 else 1
                features.append(InvertedResidual(channels, c, stride, t, dilation))
                channels = c
        self.features = nn.Sequential(*features)

    def forward(self, x):
        x0 = x
        x = self.features[0](x)
        x = self.features[1](x)
        x1 = x
        x = self.features[3](self.features[2](x))
        x2 = x
        for i in range(4, 7):
            x = self.features[i](x)
        x3 = x
        for i in range(7, 18):
            x = self.features[i](x)
        return x, x3, x2, x1, x0
