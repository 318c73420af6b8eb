"""The ground truth of an evaluation: folders of alpha, foreground and optional trimaps with the same file names."""
import os
from dataclasses import dataclass

from common.errors import InputError
from dataset.io import IMAGE_EXTENSIONS, read_alpha, read_image
from .metrics import to_uint8

__all__ = ["EvalError", "GroundTruth", "list_ground_truth", "read_ground_truth", "read_prediction"]


class EvalError(InputError):
    """A problem with the user's inputs: reported as one line naming the file or option."""


@dataclass(frozen=True)
class GroundTruth:
    """Folders of the ground truth: same file names in each; ``trimap`` may be None."""
    pha: str
    fgr: str
    trimap: str = None

    def describe(self):
        return os.path.dirname(self.pha) or "."


def _image_names(folder):
    """Sorted file names of the images directly inside ``folder``."""
    if not os.path.isdir(folder):
        raise EvalError(f"folder not found: '{folder}'")
    return sorted(f for f in os.listdir(folder)
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS)


def list_ground_truth(gt):
    """Sorted image names of the pha folder; checks that fgr (and trimap, if given) match."""
    names = _image_names(gt.pha)
    if not names:
        raise EvalError(f"no images in '{gt.pha}'")
    for folder in (gt.fgr, gt.trimap):
        if folder is None:
            continue
        missing = sorted(set(names) - set(_image_names(folder)))
        if missing:
            raise EvalError(f"{len(missing)} ground-truth file(s) of pha/ missing in '{folder}': "
                            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return names


def _check_same_size(a, b, path_a, path_b):
    if a.shape[:2] != b.shape[:2]:
        raise EvalError(f"size mismatch: '{path_a}' is {a.shape[1]}x{a.shape[0]} but "
                        f"'{path_b}' is {b.shape[1]}x{b.shape[0]} (width x height)")


def read_ground_truth(gt, name):
    """(pha float32 (H, W) in [0, 1], fgr float32 (H, W, 3) in [0, 1], trimap uint8 (H, W) or None)."""
    pha_path = os.path.join(gt.pha, name)
    fgr_path = os.path.join(gt.fgr, name)
    pha, fgr = read_alpha(pha_path), read_image(fgr_path)
    _check_same_size(fgr, pha, fgr_path, pha_path)
    trimap = None
    if gt.trimap is not None:
        trimap_path = os.path.join(gt.trimap, name)
        trimap = to_uint8(read_alpha(trimap_path))
        _check_same_size(trimap, pha, trimap_path, pha_path)
    return pha, fgr, trimap


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
