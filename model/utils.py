"""Small tensor helpers shared by the model modules."""
import paddle
import paddle.nn.functional as F

__all__ = ["spatial_size", "resize_bilinear"]


def spatial_size(x):
    """(H, W) of an NCHW tensor: Python ints in dygraph, int tensors while tracing a static graph
    (so that exported programs keep a dynamic height and width)."""
    if paddle.in_dynamic_mode():
        return x.shape[2], x.shape[3]
    shape = paddle.shape(x)
    return shape[2], shape[3]


def resize_bilinear(x, size):
    """Bilinear resize with half-pixel sampling and no antialiasing (torch's align_corners=False).

    x: (B, C, h, w); size: (H, W) as ints or int tensors. Returns (B, C, H, W).
    """
    return F.interpolate(x, size=list(size), mode="bilinear", align_corners=False, align_mode=0)
