"""Baseline: alpha = (|src - bgr| > threshold), scored like eval.py scores a model.

    python -m tools.background_difference --data-path D/photomatte85 --bgr-path D/backgrounds/valid \
        [--protocol bgmv2 --size 2048 --seed 0] [--thresholds 0.02,0.04,...] [--output-json OUT.json]

Each test image is composited over a background by eval.py's seeded protocol (same arguments,
same images as ``eval.py --model-path``); see ``evaluation.baseline``. Every threshold of
``--thresholds`` is tried and the one with the lowest mean SAD is reported, i.e. the threshold
is tuned on the test set itself: an optimistic baseline that a trained model should still beat.

With ``--model-results results.json`` (written by ``eval.py --model-path ...`` with the same
protocol arguments) it also prints the model next to the baseline and writes that table to
``--report`` (Markdown).
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import argparse
import json
import sys

from common.atomic import write_text
from common.errors import InputError, run_main
from evaluation.baseline import DEFAULT_THRESHOLDS, comparison_table, composites, score_threshold, sweep
from dataset.testset import open_test_set
from evaluation.protocols import PROTOCOLS, Protocol


def parse_thresholds(text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--thresholds must be comma-separated numbers in [0, 1), got '{text}'")
    return values


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-path", required=True, help="test set: PhotoMatte85 as released (RGBA PNGs, folder or zip) or pha/, fgr/ (and trimap/)")
    p.add_argument("--bgr-path", required=True, help="background images (a folder or its zip)")
    p.add_argument("--protocol", default="bgmv2", choices=PROTOCOLS)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", type=parse_thresholds, default=DEFAULT_THRESHOLDS)
    p.add_argument("--output-json", help="write {threshold, sad, mse, grad, conn, sweep} here")
    p.add_argument("--model-results", help="eval.py results.json of a model scored with the same protocol")
    p.add_argument("--report", help="with --model-results: write the comparison table here (Markdown)")
    return p


def read_model_results(path):
    """The 'mean' metrics of an eval.py results.json."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["mean"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"--model-results: cannot read the 'mean' metrics of '{path}' ({e})") from e


def run(args):
    model = read_model_results(args.model_results) if args.model_results else None
    gt = open_test_set(args.data_path)
    protocol = Protocol(args.protocol, args.bgr_path, args.size, args.seed)
    samples = composites(gt, protocol)
    results = sweep(samples, args.thresholds)
    best = min(results, key=lambda t: results[t][0])
    summary = {"threshold": best, **score_threshold(samples, best), "images": len(samples),
               "sweep": {str(t): {"sad": s, "mse": m} for t, (s, m) in results.items()}}
    print(f"background differencing on {len(samples)} images ({protocol.describe()}): "
          f"best threshold {best} of {len(results)} tried (tuned on these images)")
    print(f"SAD {summary['sad']:.4f}  MSE {summary['mse']:.6f}  Grad {summary['grad']:.2f}  Conn {summary['conn']:.2f}"
          "  (raw official units; SAD in thousands)")
    if args.output_json:
        write_text(args.output_json, json.dumps(summary, indent=2))
    if model is not None:
        table = comparison_table(model, summary, protocol)
        print(table)
        if args.report:
            write_text(args.report, table + "\n")
    return summary


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report and not args.model_results:
        parser.error("--report needs --model-results")
    return run_main("background_difference", lambda _: run(args) and None)


if __name__ == "__main__":
    sys.exit(main())
