"""VisualDL scalars and images of a run (only the process of rank 0 writes)."""
import numpy as np
from visualdl import LogWriter

from dataset.io import quantize

__all__ = ["TrainLogger", "image_grid"]


def image_grid(x, columns=4):
    """(B, C, H, W) tensor or array in [0, 1], C in {1, 3} -> (rows*H, columns*W, 3) uint8 grid."""
    x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    b, _, h, w = x.shape
    columns = min(columns, b)
    rows = -(-b // columns)
    grid = np.zeros((rows * h, columns * w, 3), np.float32)
    for i in range(b):
        r, c = divmod(i, columns)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = x[i].transpose(1, 2, 0)
    return quantize(grid)


class TrainLogger:
    """Writes to ``logdir`` with VisualDL (``visualdl --logdir LOGDIR`` shows it)."""

    def __init__(self, logdir):
        self.writer = LogWriter(logdir=logdir)

    def scalars(self, prefix, values, step):
        """values: {name: number or scalar tensor} -> tags 'PREFIX/NAME'."""
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def images(self, prefix, images, step):
        """images: {name: (B, C, H, W) in [0, 1]} -> one grid per name."""
        for name, x in images.items():
            self.writer.add_image(f"{prefix}/{name}", image_grid(x), step)

    def close(self):
        self.writer.close()
