"""Checks and padding of the numpy batches that every engine takes."""
import numpy as np

__all__ = ["check_batch"]


def check_batch(src, bgr):
    """float32 C-contiguous (B, 3, H, W) arrays, same shape, H and W divisible by 4."""
    arrays = []
    for name, x in (("src", src), ("bgr", bgr)):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} must be a (B, 3, H, W) array, got shape {x.shape}")
        arrays.append(np.ascontiguousarray(x, dtype=np.float32))
    src, bgr = arrays
    if src.shape != bgr.shape:
        raise ValueError(f"src and bgr must have the same shape, got {src.shape} and {bgr.shape}")
    if src.shape[2] % 4 or src.shape[3] % 4:
        raise ValueError(f"height and width must be divisible by 4, got {src.shape[2]}x{src.shape[3]} "
                         f"(pad the input; model.predictor does it for you)")
    return src, bgr
