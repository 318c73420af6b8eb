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


def _centre(x, axis):
    """The half-pixel sample of a size-1 output along ``axis``: position n/2 - 1/2 of the n input
    samples, i.e. the mean of the middle two (n even) or the middle one (n odd).

    x: (B, C, h, w); returns x with that axis reduced to 1 (works for a dynamic n in static graphs).
    """
    n = paddle.shape(x)[axis]
    middle = paddle.stack([(n - 1) // 2, n // 2])
    return paddle.index_select(x, middle, axis=axis).mean(axis=axis, keepdim=True)


def resize_bilinear(x, size, sides_above_one=False, downscale=False):
    """Bilinear resize with half-pixel sampling and no antialiasing (torch's align_corners=False).

    x: (B, C, h, w); size: (H, W) as ints or int tensors. Returns (B, C, H, W).
    sides_above_one: the caller knows H, W > 1 (e.g. full resolution): no correction is needed.
    downscale: the output is smaller than x (only decides where a traced correction is cheaper).

    Paddle's kernel samples position 0 for an output side of 1 (torch and ONNX Runtime: the
    centre, n/2 - 1/2). With known sizes such an axis is first reduced to its centre sample
    (bilinear is separable). While tracing, one program serves every size, so the correction is
    a branch-free select: over the input (upscaling) or over the output (downscaling), whichever
    is smaller.
    """
    H, W = size
    if sides_above_one:
        return _interpolate(x, H, W)
    if not downscale or (isinstance(H, int) and isinstance(W, int)):
        return _interpolate(_centre_if_one(_centre_if_one(x, H, 2), W, 3), H, W)
    out = _interpolate(x, H, W)
    row = _interpolate(_centre_if_one(_centre(x, 2), W, 3), 1, W)  # the output when H == 1: (B, C, 1, W)
    out = paddle.where(H == 1, row, out)
    column = _interpolate(_centre_if_one(_centre(x, 3), H, 2), H, 1)  # the output when W == 1: (B, C, H, 1)
    return paddle.where(W == 1, column, out)


def _interpolate(x, H, W):
    return F.interpolate(x, size=[H, W], mode="bilinear", align_corners=False, align_mode=0)


def _centre_if_one(x, n, axis):
    """x with ``axis`` replaced by its centre sample when ``n`` is 1 (a select broadcast back over x when
    ``n`` is a traced tensor)."""
    if isinstance(n, int):
        return _centre(x, axis) if n == 1 else x
    return paddle.where(n == 1, _centre(x, axis), x)
