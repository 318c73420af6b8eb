"""Time the official matting metrics on one 2048x2048 image.

Target (issue): all five metrics together under 2 s on the project's 2-core CPU.

    python -m benchmarks.bench_metrics [--size 2048] [--repeats 3] [--seed 0]

The mattes are realistic rather than noise: an opaque body with a soft edge and
a hair-like fringe, a prediction that is blurred and noisy near the edge, a
trimap from dataset.trimap (paper protocol) widened to a wide unknown band.
"""
import argparse
import time

import cv2
import numpy as np

from dataset.trimap import make_trimap
from evaluation import metrics


def synthetic_case(size, seed):
    """(pred, gt, trimap, pred_fgr, gt_fgr): uint8 (size, size[, 3])."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    # Head + shoulders as a signed distance-like field, with a noisy fringe for hair.
    body = np.minimum(np.hypot((xx - 0.5) / 0.22, (yy - 0.35) / 0.28), np.hypot((xx - 0.5) / 0.45, (yy - 1.0) / 0.4))
    fringe = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 400) * 3
    gt = np.clip((1.0 - body) * 12 + fringe * (np.abs(1.0 - body) < 0.12), 0, 1)
    pred = np.clip(cv2.GaussianBlur(gt, (0, 0), 3) + rng.normal(0, 0.03, gt.shape) * (gt > 0.01), 0, 1)
    to8 = lambda a: (a * 255).round().astype(np.uint8)
    trimap = make_trimap(to8(gt), iterations=40)  # wider band than the paper's 10: a harder case
    gt_fgr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    pred_fgr = cv2.add(gt_fgr, rng.integers(0, 8, (size, size, 3), dtype=np.uint8))
    return to8(pred), to8(gt), trimap, pred_fgr, gt_fgr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pred, gt, trimap, pred_fgr, gt_fgr = synthetic_case(args.size, args.seed)
    calls = {
        "sad": lambda: metrics.sad(pred, gt, trimap),
        "mse": lambda: metrics.mse(pred, gt, trimap),
        "grad": lambda: metrics.grad(pred, gt, trimap),
        "conn": lambda: metrics.conn(pred, gt, trimap),
        "fgr_mse": lambda: metrics.fgr_mse(pred_fgr, gt_fgr, gt, trimap),
        "evaluate_image (all)": lambda: metrics.evaluate_image(pred, gt, trimap, pred_fgr, gt_fgr),
    }
    unknown = (trimap == 128).mean()
    print(f"# metrics on one {args.size}x{args.size} image, unknown band {unknown:.1%} of pixels, "
          f"median of {args.repeats}, {cv2.getNumThreads()} OpenCV threads")
    print(f"| {'metric':<22} | {'value (official units)':>22} | {'time (s)':>8} |")
    print(f"|{'-' * 24}|{'-' * 24}|{'-' * 10}|")
    for name, call in calls.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = call()
            times.append(time.perf_counter() - start)
        shown = "-" if isinstance(value, dict) else f"{value:.6g}"
        print(f"| {name:<22} | {shown:>22} | {np.median(times):8.3f} |")
    print("target: evaluate_image (all five) < 2 s on the project's 2-core CPU")


if __name__ == "__main__":
    main()
