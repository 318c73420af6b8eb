"""ResNet-50/101 encoder (v1.5, dilated last stage) for the BGMv2 base network."""
import paddle.nn as nn

from .batchnorm import BatchNorm2D

__all__ = ["ResNetEncoder"]

_LAYERS = {"resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3]}


class Bottleneck(nn.Layer):
    """torchvision's Bottleneck: 1x1 -> 3x3 (stride, dilation) -> 1x1 (x4 channels), residual add."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2D(in_channels, planes, 1, bias_attr=False)
        self.bn1 = BatchNorm2D(planes)
        self.conv2 = nn.Conv2D(planes, planes, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias_attr=False)
        self.bn2 = BatchNorm2D(planes)
        self.conv3 = nn.Conv2D(planes, out_channels, 1, bias_attr=False)
        self.bn3 = BatchNorm2D(out_channels)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Layer):
    """ResNet encoder with output stride 16 (layer4 dilated instead of strided).

    Args:
        in_channels: input channels (6 for src + bgr).
        variant: "resnet50" or "resnet101".

    Input:
        x: (B, in_channels, H, W).
    Output:
        (x4, x3, x2, x1, x0): (B, 2048, H/16, W/16), (B, 512, H/8, W/8),
        (B, 256, H/4, W/4), (B, 64, H/2, W/2) and the input itself.
    """

    def __init__(self, in_channels, variant="resnet101"):
        super().__init__()
        if variant not in _LAYERS:
            raise ValueError(f"unknown ResNet variant {variant!r}; expected one of {sorted(_LAYERS)}")
        self._in_channels = 64
        self._dilation = 1
        blocks = _LAYERS[variant]
        self.conv1 = nn.Conv2D(in_channels, 64, 7, stride=2, padding=3, bias_attr=False)
        self.bn1 = BatchNorm2D(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, blocks[0])
        self.layer2 = self._make_layer(128, blocks[1], stride=2)
        self.layer3 = self._make_layer(256, blocks[2], stride=2)
        self.layer4 = self._make_layer(512, blocks[3], stride=2, dilate=True)

    def _make_layer(self, planes, num_blocks, stride=1, dilate=False):
        # As torchvision's replace_stride_with_dilation: the first block keeps the previous
        # dilation and drops its stride, the following blocks use the doubled dilation.
        previous_dilation = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        out_channels = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self._in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2D(self._in_channels, out_channels, 1, stride=stride, bias_attr=False),
                BatchNorm2D(out_channels))
        layers = [Bottleneck(self._in_channels, planes, stride, previous_dilation, downsample)]
        self._in_channels = out_channels
        layers += [Bottleneck(out_channels, planes, dilation=self._dilation) for _ in range(1, num_blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x0 = x
        x = self.relu(self.bn1(self.conv1(x)))
        x1 = x
        x = self.layer1(self.maxpool(x))
        x2 = x
        x = self.layer2(x)
        x3 = x
        x = self.layer4(self.layer3(x))
        return x, x3, x2, x1, x0
