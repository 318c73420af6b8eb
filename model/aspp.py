"""Atrous Spatial Pyramid Pooling, as torchvision's DeepLabV3 ASPP."""
import paddle
import paddle.nn as nn

from .batchnorm import BatchNorm2D

__all__ = ["ASPP"]


def _conv_bn_relu(in_channels, out_channels, kernel_size, dilation=1):
    return nn.Sequential(
        nn.Conv2D(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2 * dilation,
                  dilation=dilation, bias_attr=False),
        BatchNorm2D(out_channels),
        nn.ReLU())


def _image_pooling(in_channels, out_channels):
    """Image-level branch: global average pool then 1x1 conv (torchvision's ASPPPooling layout)."""
    return nn.Sequential(nn.AdaptiveAvgPool2D(1), nn.Conv2D(in_channels, out_channels, 1, bias_attr=False),
                         BatchNorm2D(out_channels), nn.ReLU())


class ASPP(nn.Layer):
    """ASPP head: 1x1 branch, three dilated 3x3 branches, image pooling, 1x1 projection + dropout 0.5.

    Input:  x: (B, in_channels, h, w).
    Output: (B, 256, h, w).
    """

    def __init__(self, in_channels, atrous_rates=(3, 6, 9), out_channels=256):
        super().__init__()
        branches = [_conv_bn_relu(in_channels, out_channels, 1)]
        branches += [_conv_bn_relu(in_channels, out_channels, 3, rate) for rate in atrous_rates]
        branches.append(_image_pooling(in_channels, out_channels))
        self.convs = nn.LayerList(branches)
        self.project = nn.Sequential(
            nn.Conv2D(len(branches) * out_channels, out_channels, 1, bias_attr=False),
            BatchNorm2D(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5))

    def forward(self, x):
        outs = [branch(x) for branch in self.convs[:-1]]
        # Bilinear resize of the pooled 1x1 map (half-pixel, no corner alignment) is a broadcast;
        # done by addition, which exporters handle with dynamic sizes (expand_as becomes static).
        outs.append(paddle.zeros_like(outs[0]) + self.convs[-1](x))
        return self.project(paddle.concat(outs, axis=1))
