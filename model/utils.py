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


def resize_bilinear(x, size):
    """Bilinear resize with half-pixel sampling and no antialiasing (torch's align_corners=False).

    x: (B, C, h, w); size: (H, W) as ints or int tensors. Returns (B, C, H, W).

    Paddle's kernel samples position 0 for an output side of 1 (torch and ONNX Runtime: the
    centre, n/2 - 1/2), so such an axis is first reduced to its centre sample (bilinear is
    separable); Paddle's resize of a side of 1 to 1 is then the identity. Tiny inputs (a side
    of 4 px and less at backbone scale 1/4) and the decoder's 1-pixel features need it.
    """
    H, W = size
    x = _centre_if_one(x, H, 2)
    x = _centre_if_one(x, W, 3)
    return F.interpolate(x, size=[H, W], mode="bilinear", align_corners=False, align_mode=0)


def _centre_if_one(x, n, axis):
    """x with ``axis`` replaced by its centre sample when the output side ``n`` is 1 (see resize_bilinear)."""
    if isinstance(n, int):  # dygraph, or a fixed side: decided here, no cost for other sizes
        return _centre(x, axis) if n == 1 else x
    # tracing with a dynamic side: one program serves every size, so select without branching
    # (broadcast: every row / column is the centre sample when n == 1)
    return paddle.where(n == 1, _centre(x, axis), x)
