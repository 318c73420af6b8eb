"""Score a model (run on composited ground truth) or saved predictions with the official metrics."""
import os

import numpy as np
from tqdm import tqdm

from dataset.io import write_alpha, write_image
from dataset.trimap import make_trimap
from inference.predictor import predict_batch
from .groundtruth import read_prediction
from .metrics import UNKNOWN, crop_to_multiple_of_4, evaluate_image, to_uint8

__all__ = ["score_image", "score_predictions", "score_model", "save_sample"]


def score_image(name, pred_pha, gt_pha, trimap, pred_fgr, gt_fgr):
    """evaluate_image, warning when the scored (cropped) trimap has no unknown pixel."""
    if not (crop_to_multiple_of_4(trimap) == UNKNOWN).any():
        tqdm.write(f"warning: {name}: the trimap has no unknown (128) pixel; all metrics are 0 for it")
    return evaluate_image(pred_pha, gt_pha, trimap, pred_fgr, gt_fgr)


def score_predictions(pred_dir, gt, names):
    """{name: metrics} of the saved predictions ``pred_dir/{pha,fgr}/<name>``."""
    per_image = {}
    for name in tqdm(names, desc="scoring", unit="img"):
        pha, fgr, trimap = gt.read(name)
        gt_pha, gt_fgr = to_uint8(pha), to_uint8(fgr)
        pred_pha, pred_fgr = read_prediction(pred_dir, name, gt_pha.shape)
        trimap = make_trimap(gt_pha) if trimap is None else trimap
        per_image[name] = score_image(name, pred_pha, gt_pha, trimap, pred_fgr, gt_fgr)
    return per_image


def save_sample(output_dir, name, pred_pha, pred_fgr, gt_pha, gt_fgr, trimap):
    """Write predictions and the scored ground truth as 8-bit PNGs named like the input."""
    png = os.path.splitext(name)[0] + ".png"
    write_alpha(os.path.join(output_dir, "pred", "pha", png), pred_pha)
    write_image(os.path.join(output_dir, "pred", "fgr", png), pred_fgr)
    write_alpha(os.path.join(output_dir, "gt", "pha", png), gt_pha)
    write_image(os.path.join(output_dir, "gt", "fgr", png), gt_fgr)
    write_alpha(os.path.join(output_dir, "gt", "trimap", png), trimap.astype(np.float32) / 255)


def score_model(engine, gt, names, protocol, save_dir=None):
    """{name: metrics} of ``engine`` on the ground truth composited by ``protocol``.

    save_dir: also write each prediction and the scored ground truth there (``save_sample``).
    """
    per_image = {}
    for index, name in enumerate(tqdm(names, desc="evaluating", unit="img")):
        src, bgr, gt_pha, gt_fgr, trimap = protocol.sample(gt, index, name)
        out = predict_batch(engine, src[None], bgr[None], extras=())
        pred_pha, pred_fgr = to_uint8(out["pha"][0]), to_uint8(out["fgr"][0])
        per_image[name] = score_image(name, pred_pha, gt_pha, trimap, pred_fgr, gt_fgr)
        if save_dir:
            save_sample(save_dir, name, pred_pha.astype(np.float32) / 255,
                        pred_fgr.astype(np.float32) / 255, gt_pha.astype(np.float32) / 255,
                        gt_fgr.astype(np.float32) / 255, trimap)
    return per_image
