"""The ground truth of an evaluation (``dataset.testset``: PhotoMatte85 as released, or pha/ + fgr/
folders) and the saved predictions scored against it."""
import os

from common.errors import InputError
from dataset.io import read_alpha, read_image
from .metrics import to_uint8

__all__ = ["EvalError", "read_prediction"]


class EvalError(InputError):
    """A problem with the user's inputs: reported as one line naming the file or option."""


def read_prediction(pred_dir, name, shape):
    """Predicted (pha uint8 (H, W), fgr uint8 (H, W, 3)); must exist and have the ground truth's size."""
    pha_path = os.path.join(pred_dir, "pha", name)
    fgr_path = os.path.join(pred_dir, "fgr", name)
    for path in (pha_path, fgr_path):
        if not os.path.isfile(path):
            raise EvalError(f"missing prediction: '{path}'")
    pha, fgr = to_uint8(read_alpha(pha_path)), to_uint8(read_image(fgr_path))
    for pred, path in ((pha, pha_path), (fgr, fgr_path)):
        if pred.shape[:2] != shape:
            raise EvalError(f"size mismatch: prediction '{path}' is {pred.shape[1]}x{pred.shape[0]}, "
                            f"ground truth '{name}' is {shape[1]}x{shape[0]} (width x height)")
    return pha, fgr
