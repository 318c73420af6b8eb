"""Baseline: alpha = (|src - bgr| > threshold), scored like eval.py scores a model.

    python tools/background_difference.py --data-path D/photomatte85 --bgr-path D/backgrounds/valid \
        [--protocol bgmv2 --size 2048 --seed 0] [--thresholds 0.02,0.04,...] [--output-json OUT.json]

Each test image is composited over a background by eval.py's seeded protocol (same arguments,
same images as ``eval.py --model-path``), the predicted alpha is 1 where the largest per-channel
absolute difference between source and background exceeds the threshold, else 0, and the
predicted foreground is the source. Every threshold of ``--thresholds`` is tried and the one
with the lowest mean SAD is reported, i.e. the threshold is tuned on the test set itself: an
optimistic baseline that a trained model should still beat.

With ``--model-results results.json`` (written by ``eval.py --model-path ...`` with the same
protocol arguments) it also prints the model next to the baseline and writes that table to
``--report`` (Markdown).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataset.trimap import make_trimap  # noqa: E402
from eval import GroundTruth, Protocol, list_ground_truth, read_ground_truth  # noqa: E402
from model.metrics import evaluate_image, mse, sad, to_uint8  # noqa: E402

DEFAULT_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(1, 41))


def difference(src, bgr):
    """Largest per-channel |src - bgr|: src, bgr (H, W, 3) in [0, 1] -> (H, W) in [0, 1]."""
    return np.abs(src - bgr).max(axis=2)


def composites(data_path, bgr_path, protocol, size, seed):
    """[(name, src, bgr, gt_pha uint8, gt_fgr uint8, trimap uint8)] by eval.py's protocol."""
    trimaps = os.path.join(data_path, "trimap")
    gt = GroundTruth(os.path.join(data_path, "pha"), os.path.join(data_path, "fgr"),
                     trimaps if os.path.isdir(trimaps) else None)
    proto = Protocol(protocol, bgr_path, size, seed)
    out = []
    for index, name in enumerate(list_ground_truth(gt)):
        pha, fgr, trimap = read_ground_truth(gt, name)
        pha, fgr, bgr = proto(index, pha, fgr)
        src = pha[:, :, None] * fgr + (1 - pha[:, :, None]) * bgr
        gt_pha = to_uint8(pha)
        if trimap is None or not proto.keeps_trimap:
            trimap = make_trimap(gt_pha)
        out.append((name, src.astype(np.float32), bgr.astype(np.float32), gt_pha, to_uint8(fgr), trimap))
    return out


def sweep(samples, thresholds):
    """{threshold: (mean SAD, mean MSE)} of the thresholded difference."""
    results = {}
    diffs = [difference(src, bgr) for _, src, bgr, *_ in samples]
    for t in thresholds:
        scores = [(sad(to_uint8(d > t), g, tri), mse(to_uint8(d > t), g, tri))
                  for d, (_, _, _, g, _, tri) in zip(diffs, samples)]
        results[t] = tuple(float(np.mean(v)) for v in zip(*scores))
    return results


def parse_thresholds(text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--thresholds must be comma-separated numbers in [0, 1), got '{text}'")
    return values


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-path", required=True, help="ground truth with pha/, fgr/ (and trimap/)")
    p.add_argument("--bgr-path", required=True, help="background images")
    p.add_argument("--protocol", default="bgmv2", choices=("bgmv2", "native"))
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", type=parse_thresholds, default=DEFAULT_THRESHOLDS)
    p.add_argument("--output-json", help="write {threshold, sad, mse, grad, conn, sweep} here")
    p.add_argument("--model-results", help="eval.py results.json of a model scored with the same protocol")
    p.add_argument("--report", help="with --model-results: write the comparison table here (Markdown)")
    args = p.parse_args(argv)
    if args.report and not args.model_results:
        p.error("--report needs --model-results")
    model = _read_model_results(p, args.model_results) if args.model_results else None
    for flag, path in (("--data-path", args.data_path), ("--bgr-path", args.bgr_path)):
        if not os.path.isdir(path):
            p.error(f"{flag}: folder not found: '{path}'")

    samples = composites(args.data_path, args.bgr_path, args.protocol, args.size, args.seed)
    results = sweep(samples, args.thresholds)
    best = min(results, key=lambda t: results[t][0])
    metrics = [evaluate_image(to_uint8(difference(src, bgr) > best), g, tri)
               for _, src, bgr, g, _, tri in samples]
    summary = {"threshold": best, **{k: float(np.mean([m[k] for m in metrics])) for k in metrics[0]},
               "images": len(samples), "sweep": {str(t): {"sad": s, "mse": m} for t, (s, m) in results.items()}}
    print(f"background differencing on {len(samples)} images ({args.protocol}, size {args.size}, seed {args.seed}): "
          f"best threshold {best} of {len(results)} tried (tuned on these images)")
    print(f"SAD {summary['sad']:.4f}  MSE {summary['mse']:.6f}  Grad {summary['grad']:.2f}  Conn {summary['conn']:.2f}"
          "  (raw official units; SAD in thousands)")
    if args.output_json:
        _write_atomic(args.output_json, json.dumps(summary, indent=2))
    if model is not None:
        table = comparison_table(model, summary, args)
        print(table)
        if args.report:
            _write_atomic(args.report, table + "\n")
    return summary


def _read_model_results(parser, path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["mean"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        parser.error(f"--model-results: cannot read the 'mean' metrics of '{path}' ({e})")


def comparison_table(model, baseline, args):
    """Markdown table: the model's mean metrics (eval.py) next to the baseline's, lower is better."""
    keys = [k for k in ("sad", "mse", "grad", "conn") if k in model]
    rows = [f"Synthetic test set, {baseline['images']} images, protocol {args.protocol} at {args.size}x{args.size}, "
            f"seed {args.seed}; official raw units (SAD in thousands), lower is better.", "",
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


def _write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
