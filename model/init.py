"""Initialise a MattingBase / MattingRefine as PyTorch initialises the reference, or as Paddle does.

Reference (``scheme="reference"``): the encoders subclass torchvision's ResNet / MobileNetV2, whose
constructors give every conv ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``, i.e.
N(0, 2 / fan_out) with fan_out = out_channels * kh * kw (MobileNetV2: conv biases 0), and every
BatchNorm weight 1, bias 0. The 6-channel first conv is replaced after that constructor, so it, the
ASPP, the decoder and the refiner keep PyTorch's default layer init: weight
``kaiming_uniform_(a=sqrt(5))`` = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels /
groups * kh * kw, bias U with the same bound. BatchNorm running statistics start at 0 / 1.

Paddle (``scheme="paddle"``): what Paddle's layers draw when built: conv weight
N(0, 2 / (in_channels * kh * kw)) (Paddle does not divide by groups), conv bias 0; BatchNorm 1 / 0.

Draws come from Paddle's global generator in the order of ``net.named_sublayers()``, so
``paddle.seed(s)`` before ``init_weights`` makes the weights reproducible.
"""
import math

import paddle
import paddle.nn as nn

__all__ = ["init_weights", "SCHEMES"]

SCHEMES = ("reference", "paddle")
# The encoder's first conv: replaced after torchvision's constructor ran, so it has default init.
_FIRST_CONVS = ("backbone.conv1", "backbone.features.0.0")


def _fans(weight):
    """(fan_in, fan_out) of a conv weight (out, in / groups, kh, kw), as torch computes them."""
    receptive = int(math.prod(weight.shape[2:]))
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _normal(param, std):
    param.set_value(paddle.normal(0.0, std, param.shape).astype(param.dtype))


def _uniform(param, bound):
    param.set_value(paddle.uniform(param.shape, dtype=param.dtype, min=-bound, max=bound))


def init_weights(net, scheme="reference"):
    """Re-initialise every Conv2D and BatchNorm of ``net`` (in place) by ``scheme``; returns ``net``.

    Args:
        net: MattingBase or MattingRefine (any layer whose encoder is ``net.backbone``).
        scheme: "reference" (PyTorch's init of the reference model) or "paddle" (Paddle's defaults).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    for name, layer in net.named_sublayers():
        if isinstance(layer, nn.Conv2D):
            fan_in, fan_out = _fans(layer.weight)
            if scheme == "paddle":
                # Paddle's Conv2D default: N(0, 2 / (in_channels * kh * kw)), in_channels NOT divided by
                # groups (a depthwise conv starts sqrt(channels) times narrower than torch's fan_in would give)
                _normal(layer.weight, math.sqrt(2.0 / (layer._in_channels * int(math.prod(layer.weight.shape[2:])))))
                if layer.bias is not None:
                    layer.bias.set_value(paddle.zeros_like(layer.bias))
            elif name.startswith("backbone.") and name not in _FIRST_CONVS:
                _normal(layer.weight, math.sqrt(2.0 / fan_out))  # kaiming_normal_, fan_out, ReLU gain
                if layer.bias is not None:
                    layer.bias.set_value(paddle.zeros_like(layer.bias))
            else:
                bound = 1.0 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) * sqrt(3/fan_in)
                _uniform(layer.weight, bound)
                if layer.bias is not None:
                    _uniform(layer.bias, bound)
        elif isinstance(layer, nn.layer.norm._BatchNormBase):
            layer.weight.set_value(paddle.ones_like(layer.weight))
            layer.bias.set_value(paddle.zeros_like(layer.bias))
            layer._mean.set_value(paddle.zeros_like(layer._mean))
            layer._variance.set_value(paddle.ones_like(layer._variance))
    return net
