"""Background differencing: alpha = (|src - bgr| > threshold), the baseline a trained model must beat.

The predicted alpha is 1 where the largest per-channel absolute difference between source and
background exceeds the threshold, else 0, and the predicted foreground is the source. ``sweep``
tries thresholds; picking the best on the test set itself gives an optimistic baseline.
"""
import numpy as np

from .metrics import evaluate_image, mse, sad, to_uint8

__all__ = ["DEFAULT_THRESHOLDS", "difference", "composites", "sweep", "score_threshold", "comparison_table"]

DEFAULT_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(1, 41))


def difference(src, bgr):
    """Largest per-channel |src - bgr|: src, bgr (H, W, 3) in [0, 1] -> (H, W) in [0, 1]."""
    return np.abs(src - bgr).max(axis=2)


def composites(gt, protocol):
    """[(name, src, bgr, gt_pha, gt_fgr, trimap)] of ``Protocol.sample`` for every image of the test set ``gt``."""
    return [(name, *protocol.sample(gt, index, name)) for index, name in enumerate(gt.names)]


def sweep(samples, thresholds):
    """{threshold: (mean SAD, mean MSE)} of the thresholded difference."""
    results = {}
    diffs = [difference(src, bgr) for _, src, bgr, *_ in samples]
    for t in thresholds:
        scores = [(sad(to_uint8(d > t), g, tri), mse(to_uint8(d > t), g, tri))
                  for d, (_, _, _, g, _, tri) in zip(diffs, samples)]
        results[t] = tuple(float(np.mean(v)) for v in zip(*scores))
    return results


def score_threshold(samples, threshold):
    """Mean official metrics of the baseline at ``threshold`` over ``composites``' samples."""
    metrics = [evaluate_image(to_uint8(difference(src, bgr) > threshold), g, tri) for _, src, bgr, g, _, tri in samples]
    return {k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]}


def comparison_table(model, baseline, protocol):
    """Markdown table: the model's mean metrics (eval.py) next to the baseline's, lower is better."""
    keys = [k for k in ("sad", "mse", "grad", "conn") if k in model]
    rows = [f"Synthetic test set, {baseline['images']} images, {protocol.describe()}; official raw units "
            f"(SAD in thousands), lower is better.", "",
            "| method | " + " | ".join({"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}[k] for k in keys) + " |",
            "|---" * (len(keys) + 1) + "|",
            "| trained model | " + " | ".join(f"{model[k]:.4g}" for k in keys) + " |",
            f"| background differencing (threshold {baseline['threshold']}) | "
            + " | ".join(f"{baseline[k]:.4g}" for k in keys) + " |", ""]
    ratio = model["sad"] / baseline["sad"] if baseline["sad"] else float("inf")
    verdict = "beats" if model["sad"] < baseline["sad"] else "does NOT beat"
    rows.append(f"The trained model {verdict} background differencing on SAD "
                f"({model['sad']:.4f} vs {baseline['sad']:.4f}, ratio {ratio:.2f}).")
    return "\n".join(rows)
