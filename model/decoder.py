"""Decoder of the BGMv2 base network: upsample and fuse the encoder's skip features."""
import paddle
import paddle.nn as nn

from .batchnorm import BatchNorm2D
from .utils import resize_bilinear, spatial_size

__all__ = ["Decoder"]


class Decoder(nn.Layer):
    """Four conv stages, each: upsample to the next skip's size, concat [x, skip], 3x3 conv, BN, ReLU
    (the last stage is a plain 3x3 conv with bias).

    Args:
        channels: [c_in, c1, c2, c3, c_out] output channels of the ASPP and of each stage.
        feature_channels: channels of the skips x3, x2, x1, x0.

    Input:
        x4: (B, c_in, H/16, W/16); x3: (B, ., H/8, W/8); x2: (B, ., H/4, W/4); x1: (B, ., H/2, W/2);
        x0: (B, ., H, W).
    Output:
        (B, c_out, H, W).
    """

    def __init__(self, channels, feature_channels):
        super().__init__()
        self.conv1 = nn.Conv2D(feature_channels[0] + channels[0], channels[1], 3, padding=1, bias_attr=False)
        self.bn1 = BatchNorm2D(channels[1])
        self.conv2 = nn.Conv2D(feature_channels[1] + channels[1], channels[2], 3, padding=1, bias_attr=False)
        self.bn2 = BatchNorm2D(channels[2])
        self.conv3 = nn.Conv2D(feature_channels[2] + channels[2], channels[3], 3, padding=1, bias_attr=False)
        self.bn3 = BatchNorm2D(channels[3])
        self.conv4 = nn.Conv2D(feature_channels[3] + channels[3], channels[4], 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x4, x3, x2, x1, x0):
        x = x4
        for skip, conv, bn in ((x3, self.conv1, self.bn1), (x2, self.conv2, self.bn2), (x1, self.conv3, self.bn3)):
            x = resize_bilinear(x, spatial_size(skip))
            x = self.relu(bn(conv(paddle.concat([x, skip], axis=1))))
        x = resize_bilinear(x, spatial_size(x0))
        return self.conv4(paddle.concat([x, x0], axis=1))
