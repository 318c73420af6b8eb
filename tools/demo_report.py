"""The demo's report: the model next to background differencing on each protocol, as text, JSON and a picture.

    python -m tools.demo_report RUN_DIR --data-path D/photomatte85 --bgr-path D/backgrounds/valid \
        --size 128 --seed 0 [--protocols perturbed bgmv2] [--figure-images 4]

Reads, per protocol P, ``RUN_DIR/eval/P/results.json`` and ``RUN_DIR/eval/P/pred/`` (``eval.py
--protocol P --save-pred``) and ``RUN_DIR/eval/P/background_difference.json``
(``tools.background_difference --protocol P``), all made with the same test-set arguments as given
here. Writes

* ``RUN_DIR/metrics.md``: one table per protocol (mean SAD, MSE, Grad, Conn; lower is better);
* ``RUN_DIR/metrics.json``: the same numbers for programs, ``{"protocols": {P: {"model": {...},
  "background_differencing": {"threshold", ...}, "sad_ratio"}}, "images", "seed", "size"}``;
* ``RUN_DIR/comparison.png``: for the first ``--figure-images`` test images (sorted by name, not
  chosen) on the first protocol: source, plate, true alpha, model alpha, differencing alpha and
  the error of each (``evaluation.figure``).
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle

import argparse
import json
import os
import sys

import numpy as np

from common.atomic import write_text
from common.errors import InputError, run_main
from dataset.io import read_alpha, write_image
from dataset.testset import open_test_set
from evaluation.baseline import comparison_table, difference
from evaluation.figure import comparison_figure
from evaluation.metrics import sad, to_uint8
from evaluation.protocols import PROTOCOLS, Protocol

METRICS = ("sad", "mse", "grad", "conn")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="the demo run folder (work_dirs/demo/run-*)")
    p.add_argument("--data-path", required=True, help="the test set eval.py scored")
    p.add_argument("--bgr-path", required=True, help="its backgrounds")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=["perturbed", "bgmv2"],
                   help="in this order in the report; the figure shows the first")
    p.add_argument("--figure-images", type=int, default=4, help="rows of comparison.png (first N test images)")
    return p


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read '{path}' ({e}); run eval.py / tools.background_difference first") from e


def protocol_numbers(run_dir, name):
    """({"model", "background_differencing", "sad_ratio"}, per-image model results) of protocol ``name``."""
    model = _read_json(os.path.join(run_dir, "eval", name, "results.json"))
    baseline = _read_json(os.path.join(run_dir, "eval", name, "background_difference.json"))
    numbers = {"model": {k: model["mean"][k] for k in METRICS},
               "background_differencing": {"threshold": baseline["threshold"],
                                           **{k: baseline[k] for k in METRICS}},
               "sad_ratio": model["mean"]["sad"] / baseline["sad"] if baseline["sad"] else float("inf")}
    return numbers, model["per_image"], baseline


def figure_rows(run_dir, gt, protocol, threshold, per_image, count):
    """Rows for ``evaluation.figure.comparison_figure``: the first ``count`` test images of ``protocol``."""
    rows = []
    for index, name in enumerate(gt.names[:count]):
        src, bgr, gt_pha, _, trimap = protocol.sample(gt, index, name)
        png = os.path.splitext(name)[0] + ".png"
        model = read_alpha(os.path.join(run_dir, "eval", protocol.name, "pred", "pha", png))
        diff = (difference(src, bgr) > threshold).astype(np.float32)
        rows.append({"src": src, "bgr": bgr, "true": gt_pha.astype(np.float32) / 255, "model": model,
                     "diff": diff, "trimap": trimap, "model_sad": per_image[name]["sad"],
                     "diff_sad": sad(to_uint8(diff), gt_pha, trimap)})
    return rows


def run(args):
    gt = open_test_set(args.data_path)
    report, tables, figure = {}, [], None
    for name in args.protocols:
        protocol = Protocol(name, args.bgr_path, args.size, args.seed)
        numbers, per_image, baseline = protocol_numbers(args.run_dir, name)
        report[name] = numbers
        tables.append(f"## {name} protocol\n\n" + comparison_table(numbers["model"], baseline, protocol))
        if figure is None and args.figure_images > 0:
            figure = comparison_figure(figure_rows(args.run_dir, gt, protocol, baseline["threshold"], per_image,
                                                   args.figure_images))
            caption = (f"comparison.png: the first {min(args.figure_images, len(gt.names))} test images "
                       f"(sorted by name) on the {name} protocol; differencing at its tuned threshold "
                       f"{baseline['threshold']}; error = |alpha - true alpha|, red where SAD counts it.")
    text = "# Demo results\n\n" + "\n\n".join(tables) + "\n"
    if figure is not None:
        text += "\n" + caption + "\n"
        write_image(os.path.join(args.run_dir, "comparison.png"), figure)
    write_text(os.path.join(args.run_dir, "metrics.md"), text)
    write_text(os.path.join(args.run_dir, "metrics.json"),
               json.dumps({"protocols": report, "images": len(gt.names), "size": args.size, "seed": args.seed},
                          indent=2) + "\n")
    print(text)
    return report


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run_main("demo_report", lambda _: run(args) and None)


if __name__ == "__main__":
    sys.exit(main())
