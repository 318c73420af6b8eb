"""``eval.py``: score a model, or saved predictions, on PhotoMatte85 with the official metrics."""
import argparse
import os

from common.atomic import check_writable, staged_output
from common.errors import run_main
from dataset.paths import dataset_root, load_dataset_paths
from dataset.testset import open_test_set, test_set_from_config
from inference.cli import (add_config_argument, add_engine_arguments, add_model_arguments, add_weights_arguments,
                           make_engine, parse_args as parse_with_config, positive_int)
from model import CheckpointError
from .groundtruth import EvalError
from .protocols import PROTOCOLS, Protocol
from .report import RESULT_FILES, format_table, write_results
from .scoring import score_model, score_predictions

__all__ = ["DEFAULT_DATASET_CONFIG", "USAGE", "build_parser", "parse_args", "evaluate", "main"]

USAGE = """Score BGMv2 on PhotoMatte85 with the official matting metrics (SAD, MSE, Grad, Conn, fgr MSE).

Two modes:

* run a model and score it (ground truth composited over backgrounds by a seeded protocol):

      python eval.py --model-path M.pdparams --data-path PhotoMatte85 --bgr-path backgrounds/valid \\
          [--refine-mode sampling --backbone-scale 0.25] \\
          [--protocol bgmv2|native|perturbed --size 2048 --seed 0] [--output-dir output/eval --save-pred]

* score saved predictions (``P/pha`` and ``P/fgr`` with the ground truth's file names):

      python eval.py --pred-dir P --data-path PhotoMatte85 --output-json results.json

``--data-path`` holds ``pha/``, ``fgr/`` and optionally ``trimap/`` with the same file names;
without it the folders come from the ``photomatte85`` entry of ``--dataset-config``
(default ``configs/datasets.yaml``), and ``--bgr-path`` from its ``backgrounds.valid``.
Missing trimaps are made from the ground truth (``dataset.trimap``, paper protocol). The
metrics are those of the official MATLAB benchmark (``evaluation.metrics``); JSON and CSV hold
its raw units, the printed table the units the papers print (stated in its header).

Protocols (model mode), each image ``i`` (sorted by name) draws from its own generator
``np.random.default_rng([seed, i])``, so its numbers do not depend on the other images:

* ``bgmv2`` (default): the BGMv2 validation protocol. A background is picked uniformly from
  the sorted ``--bgr-path`` images; pha/fgr go through
  ``PairRandomAffineAndResize((size, size), degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.3, 1),
  shear=(-5, 5))`` and the background through ``RandomAffineAndResize((size, size), degrees=(-5, 5),
  translate=(0.1, 0.1), scale=(1, 1.2), shear=(-5, 5))``. Trimaps are always made from the
  transformed ground truth (a given ``trimap/`` does not survive the warp).
* ``native``: the image keeps its size; the picked background is scaled to cover it and
  centre-cropped. The model input is padded (edge replication) to a multiple of 4 and the
  output cropped back, so predictions have the ground truth's size; the metrics then crop
  to a multiple of 4 like the benchmark does. Given trimaps are used.
* ``perturbed``: ``bgmv2``, then the pair goes through the reference's training perturbations
  (shadow under the subject, noise, background colour jitter, misaligned plate; probabilities
  and ranges of ``dataset.perturbation``), seeded by the next draw of the image's generator:
  a real plate is never exactly the background in the photo.

The ground truth is quantised to 8 bits before scoring, exactly as ``--save-pred`` writes it
(``OUT/gt/{pha,fgr,trimap}``, beside ``OUT/pred/{pha,fgr}``), so the official
``benchmark.m OUT/gt OUT/pred`` and ``eval.py --pred-dir OUT/pred --data-path OUT/gt`` score
the same files to the same numbers.
"""

DEFAULT_DATASET_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                                      "datasets.yaml")


def build_parser():
    p = argparse.ArgumentParser(prog="eval.py", description=USAGE.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=USAGE)
    add_config_argument(p)
    p.add_argument("--data-path", help="PhotoMatte85 as released (a folder of RGBA PNGs, or its zip), or a folder "
                                       "with pha/, fgr/ and optional trimap/ (default: photomatte85 of "
                                       "--dataset-config)")
    p.add_argument("--dataset-config", default=DEFAULT_DATASET_CONFIG,
                   help="dataset paths YAML used when --data-path / --bgr-path are not given")
    src = p.add_argument_group("what to score (one of)")
    weights = add_weights_arguments(src, required=False, inference_model=False)
    weights.add_argument("--pred-dir", help="saved predictions: pha/ and fgr/ named like the ground truth")

    model = p.add_argument_group("model (with --model-path)")
    add_model_arguments(model)
    add_engine_arguments(model)

    proto = p.add_argument_group("composition protocol (with --model-path)")
    proto.add_argument("--bgr-path", help="background images: a folder or its zip "
                                          "(default: backgrounds.valid of --dataset-config)")
    proto.add_argument("--protocol", default="bgmv2", choices=PROTOCOLS,
                       help="bgmv2: seeded validation augmentation at --size; native: plain composite; "
                            "perturbed: bgmv2 + the reference's training perturbations of the pair")
    proto.add_argument("--size", type=int, default=2048, help="output size of the bgmv2 protocol")
    proto.add_argument("--seed", type=int, default=0)
    proto.add_argument("--num-images", type=positive_int, help="score only the first N images (sorted by name)")

    out = p.add_argument_group("output")
    out.add_argument("--output-dir", help="folder for results.csv / results.json (and predictions with "
                                          "--save-pred); default output/eval in model mode")
    out.add_argument("--output-json", help="also write the JSON results to this file")
    out.add_argument("--save-pred", action="store_true",
                     help="write OUT/pred/{pha,fgr} and the scored ground truth OUT/gt/{pha,fgr,trimap}")
    out.add_argument("--overwrite", action="store_true", help="replace existing result files")
    return p


def parse_args(parser, argv=None):
    args = parse_with_config(parser, argv)
    if bool(args.model_path) == bool(args.pred_dir):
        parser.error("give exactly one of --model-path (run a model) or --pred-dir (score saved predictions)")
    if args.model_path:
        if args.output_dir is None:
            args.output_dir = os.path.join("output", "eval")
    elif args.save_pred:
        parser.error("--save-pred needs --model-path")
    if args.size <= 0 or args.size % 4:
        parser.error(f"--size must be a positive multiple of 4, got {args.size}")
    return args


def _dataset_paths(args):
    try:
        return load_dataset_paths(args.dataset_config)
    except ValueError as e:  # bad YAML: the message names the file and key
        raise EvalError(str(e)) from e


def ground_truth(args):
    """The test set of --data-path (PhotoMatte85 as released, its zip, or pha/ + fgr/ folders), or the
    photomatte85 entry of --dataset-config."""
    if args.data_path:
        return open_test_set(args.data_path)
    return test_set_from_config(_dataset_paths(args))


def background_folder(args):
    """--bgr-path, or backgrounds.valid of --dataset-config."""
    if args.bgr_path:
        return args.bgr_path
    return dataset_root(_dataset_paths(args), "backgrounds", "valid")


def check_outputs(args):
    """Refuse to overwrite existing result files unless --overwrite."""
    paths = [os.path.join(args.output_dir, f) for f in RESULT_FILES] if args.output_dir else []
    if args.output_json:
        paths.append(args.output_json)
    if args.save_pred:
        paths += [os.path.join(args.output_dir, d) for d in ("pred", "gt")]
    existing = [p for p in paths if os.path.exists(p) and (os.path.isfile(p) or os.listdir(p))]
    if existing and not args.overwrite:
        raise EvalError(f"would overwrite {', '.join(existing)}; pass --overwrite or choose another "
                        "--output-dir / --output-json")
    for option, path in (("--output-dir", args.output_dir), ("--output-json", args.output_json)):
        if path:
            check_writable(path, option)


def _load_engine(args):
    try:
        return make_engine(args)
    except CheckpointError as e:
        raise EvalError(f"--model-path: {e}") from e


def evaluate(args):
    """Score what the arguments name; prints the table and returns {name: metrics}."""
    gt = ground_truth(args)
    names = gt.names[: args.num_images]
    check_outputs(args)
    if args.model_path:
        protocol = Protocol(args.protocol, background_folder(args), args.size, args.seed)
        engine = _load_engine(args)
        if args.save_pred:  # the saved set appears complete, or not at all
            with staged_output(args.output_dir, overwrite=True) as tmp:
                per_image = score_model(engine, gt, names, protocol, save_dir=tmp)
        else:
            per_image = score_model(engine, gt, names, protocol)
        o = engine.options
        title = (f"{o.model_type}({o.backbone}) on {len(names)} images ({gt.describe()}), "
                 f"{protocol.describe()}")
    else:
        per_image = score_predictions(args.pred_dir, gt, names)
        title = f"'{args.pred_dir}' on {len(names)} images ({gt.describe()})"
    write_results(per_image, args.output_dir, args.output_json)
    print(format_table(per_image, title))
    return per_image


def main(argv=None):
    """eval.py's command; returns its exit code (``common.errors``)."""
    args = parse_args(build_parser(), argv)
    return run_main("eval.py", lambda _: evaluate(args) and None)
