"""Score BGMv2 on PhotoMatte85 with the official matting metrics (SAD, MSE, Grad, Conn, fgr MSE).

Two modes:

* run a model and score it (ground truth composited over backgrounds by a seeded protocol):

      python eval.py --model-path M.pdparams --data-path PhotoMatte85 --bgr-path backgrounds/valid \\
          [--backbone resnet50 --model-type mattingrefine --refine-mode sampling] \\
          [--protocol bgmv2|native --size 2048 --seed 0] [--output-dir output/eval --save-pred]

* score saved predictions (``P/pha`` and ``P/fgr`` with the ground truth's file names):

      python eval.py --pred-dir P --data-path PhotoMatte85 --output-json results.json

``--data-path`` holds ``pha/``, ``fgr/`` and optionally ``trimap/`` with the same file names;
without it the folders come from the ``photomatte85`` entry of ``--dataset-config``
(default ``configs/datasets.yaml``), and ``--bgr-path`` from its ``backgrounds.valid``.
Missing trimaps are made from the ground truth (``dataset.trimap``, paper protocol). The
metrics are those of the official MATLAB benchmark (``model.metrics``); JSON and CSV hold
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

The ground truth is quantised to 8 bits before scoring, exactly as ``--save-pred`` writes it
(``OUT/gt/{pha,fgr,trimap}``, beside ``OUT/pred/{pha,fgr}``), so the official
``benchmark.m OUT/gt OUT/pred`` and ``eval.py --pred-dir OUT/pred --data-path OUT/gt`` score
the same files to the same numbers.
"""
import argparse
import csv
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from dataset.augmentation import PairRandomAffineAndResize, RandomAffineAndResize
from dataset.io import IMAGE_EXTENSIONS, list_images, read_alpha, read_image, write_alpha, write_image
from dataset.paths import DatasetKeyError, dataset_root, load_dataset_paths
from dataset.trimap import make_trimap
from model import CheckpointError
from model.inference import ENGINE_HELP, ENGINES, ModelOptions, add_model_arguments, load_engine
from model.metrics import METRIC_NAMES, UNKNOWN, crop_to_multiple_of_4, evaluate_image, to_uint8

RESULT_FILES = ("results.json", "results.csv")
DEFAULT_DATASET_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "datasets.yaml")

# (header, factor from the official raw unit to the printed unit)
PRINTED_UNITS = {
    "sad": ("SAD /1e3", 1.0),       # official value is already divided by 1000
    "mse": ("MSE x1e3", 1e3),
    "grad": ("Grad /1e3", 1e-3),
    "conn": ("Conn /1e3", 1e-3),
    "fgr_mse": ("fgr MSE x1e3", 1e3),
}


class EvalError(Exception):
    """A problem with the user's inputs: reported as one line naming the file or option."""


# ------------------------------------------------------------------ command line
def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--config", help="YAML file of options (keys are option names, e.g. protocol: native); "
                                    "command-line options override it")
    p.add_argument("--data-path", help="ground-truth folder with pha/, fgr/ and optional trimap/ "
                                       "(default: photomatte85 of --dataset-config)")
    p.add_argument("--dataset-config", default=DEFAULT_DATASET_CONFIG,
                   help="dataset paths YAML used when --data-path / --bgr-path are not given")
    src = p.add_argument_group("what to score (one of)")
    src.add_argument("--model-path", help="weights to run and score (.pdparams, or an official .pth)")
    src.add_argument("--pred-dir", help="saved predictions: pha/ and fgr/ named like the ground truth")

    model = p.add_argument_group("model (with --model-path)")
    add_model_arguments(model)
    model.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N")
    model.add_argument("--engine", default="auto", choices=ENGINES,
                       help=ENGINE_HELP + " (exported once and cached next to the checkpoint)")

    proto = p.add_argument_group("composition protocol (with --model-path)")
    proto.add_argument("--bgr-path", help="folder of background images "
                                          "(default: backgrounds.valid of --dataset-config)")
    proto.add_argument("--protocol", default="bgmv2", choices=("bgmv2", "native"),
                       help="bgmv2: seeded validation augmentation at --size; native: plain composite")
    proto.add_argument("--size", type=int, default=2048, help="output size of the bgmv2 protocol")
    proto.add_argument("--seed", type=int, default=0)
    proto.add_argument("--num-images", type=int, help="score only the first N images (sorted by name)")

    out = p.add_argument_group("output")
    out.add_argument("--output-dir", help="folder for results.csv / results.json (and predictions with "
                                          "--save-pred); default output/eval in model mode")
    out.add_argument("--output-json", help="also write the JSON results to this file")
    out.add_argument("--save-pred", action="store_true",
                     help="write OUT/pred/{pha,fgr} and the scored ground truth OUT/gt/{pha,fgr,trimap}")
    out.add_argument("--overwrite", action="store_true", help="replace existing result files")
    return p


def parse_args(argv=None):
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    known, _ = parser.parse_known_args(argv)
    if known.config:
        # Config entries become leading options, so argparse checks their types and choices
        # and the command line, parsed after them, wins.
        argv = config_to_argv(known.config, parser) + argv
    args = parser.parse_args(argv)
    if bool(args.model_path) == bool(args.pred_dir):
        parser.error("give exactly one of --model-path (run a model) or --pred-dir (score saved predictions)")
    if args.model_path:
        if args.output_dir is None:
            args.output_dir = os.path.join("output", "eval")
    elif args.save_pred:
        parser.error("--save-pred needs --model-path")
    if args.size <= 0 or args.size % 4:
        parser.error(f"--size must be a positive multiple of 4, got {args.size}")
    if args.num_images is not None and args.num_images <= 0:
        parser.error(f"--num-images must be positive, got {args.num_images}")
    return args


def config_to_argv(path, parser):
    """Command-line tokens for the options in a YAML mapping {option_name: value}.

    Unknown keys are an error naming the key and file; ``true``/``false`` switch flags.
    """
    if not os.path.isfile(path):
        parser.error(f"--config file not found: '{path}'")
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    if not isinstance(config, dict):
        parser.error(f"--config '{path}' must hold a mapping of option: value")
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    argv = []
    for key, value in config.items():
        action = actions.get(str(key).replace("-", "_"))
        if action is None or action.dest == "config":
            parser.error(f"unknown option '{key}' in --config '{path}'")
        if action.nargs == 0:  # a flag
            argv += [action.option_strings[-1]] if value else []
        elif value is not None:
            argv += [action.option_strings[-1], str(value)]
    return argv


# ------------------------------------------------------------------ data
@dataclass(frozen=True)
class GroundTruth:
    """Folders of the ground truth: same file names in each; ``trimap`` may be None."""
    pha: str
    fgr: str
    trimap: str = None

    @classmethod
    def from_args(cls, args):
        if args.data_path:
            trimap = os.path.join(args.data_path, "trimap")
            return cls(os.path.join(args.data_path, "pha"), os.path.join(args.data_path, "fgr"),
                       trimap if os.path.isdir(trimap) else None)
        paths = _dataset_paths(args)
        try:
            trimap = dataset_root(paths, "photomatte85", "trimap", must_exist=False)
        except DatasetKeyError:
            trimap = None
        return cls(dataset_root(paths, "photomatte85", "pha"), dataset_root(paths, "photomatte85", "fgr"),
                   trimap if trimap and os.path.isdir(trimap) else None)

    def describe(self):
        return os.path.dirname(self.pha) or "."


def background_folder(args):
    """--bgr-path, or backgrounds.valid of --dataset-config."""
    if args.bgr_path:
        return args.bgr_path
    return dataset_root(_dataset_paths(args), "backgrounds", "valid")


def _dataset_paths(args):
    try:
        return load_dataset_paths(args.dataset_config)
    except ValueError as e:  # bad YAML: the message names the file and key
        raise EvalError(str(e)) from e


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


# ------------------------------------------------------------------ composition protocols
def image_rng(seed, index):
    """The generator of image ``index``: independent of every other image's draws."""
    return np.random.default_rng([seed, index])


def cover_resize(image, height, width):
    """Scale (H', W', 3) ``image`` to cover height x width, then centre-crop to it."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top:top + height, left:left + width]


class Protocol:
    """Turns one ground-truth (pha, fgr) into the (pha, fgr, bgr) the model is evaluated on.

    Arrays: pha float32 (H, W) in [0, 1]; fgr, bgr float32 (H, W, 3) in [0, 1].
    ``keeps_trimap`` says whether a given trimap still matches the returned pha.
    """

    def __init__(self, name, bgr_folder, size, seed):
        self.bgr_paths = list_images(bgr_folder)
        if not self.bgr_paths:
            raise EvalError(f"no background images in '{bgr_folder}'")
        self.name, self.size, self.seed = name, size, seed
        self.keeps_trimap = name == "native"
        if name == "bgmv2":
            self.pair_transform = PairRandomAffineAndResize(
                (size, size), degrees=(-5, 5), translate=(0.1, 0.1), scale=(0.3, 1), shear=(-5, 5))
            self.bgr_transform = RandomAffineAndResize(
                (size, size), degrees=(-5, 5), translate=(0.1, 0.1), scale=(1, 1.2), shear=(-5, 5))

    def __call__(self, index, pha, fgr):
        rng = image_rng(self.seed, index)
        bgr = read_image(self.bgr_paths[rng.integers(len(self.bgr_paths))])
        if self.name == "native":
            return pha, fgr, cover_resize(bgr, *pha.shape)
        pha, fgr = self.pair_transform((pha[:, :, None], fgr), rng)
        bgr = self.bgr_transform(bgr, rng)
        return pha[:, :, 0], fgr, bgr

    def describe(self):
        if self.name == "native":
            return f"native size, seed {self.seed}"
        return f"bgmv2 validation protocol at {self.size}x{self.size}, seed {self.seed}"


# ------------------------------------------------------------------ model
def load_model(args):
    """An engine ``engine(src, bgr) -> {name: array}`` for ``args.model_path`` (weights loaded strictly)."""
    options = ModelOptions(args.model_type, args.backbone, args.backbone_scale, args.refine_mode,
                           args.refine_sample_pixels, args.refine_threshold)
    try:
        return load_engine(args.model_path, options, engine=args.engine, device=args.device)
    except CheckpointError as e:
        raise EvalError(f"--model-path: {e} (check --backbone and --model-type; given "
                        f"{args.backbone}, {args.model_type})") from e


def run_model(engine, src, bgr):
    """Matte one image: src, bgr float32 (H, W, 3) in [0, 1], H and W multiples of 4.

    Returns (pha float32 (H, W) in [0, 1], fgr float32 (H, W, 3) in [0, 1]).
    """
    out = engine(src.transpose(2, 0, 1)[None], bgr.transpose(2, 0, 1)[None])
    return out["pha"][0, 0], out["fgr"][0].transpose(1, 2, 0)


def run_padded(engine, src, bgr):
    """run_model on inputs padded by edge replication to a multiple of 4, cropped back to (H, W)."""
    h, w = src.shape[:2]
    pad = ((0, -h % 4), (0, -w % 4), (0, 0))
    pha, fgr = run_model(engine, np.pad(src, pad, mode="edge"), np.pad(bgr, pad, mode="edge"))
    return pha[:h, :w], fgr[:h, :w]


# ------------------------------------------------------------------ results
def mean_metrics(per_image):
    """Plain average over images of each metric, as benchmark.m computes it."""
    return {k: float(np.mean([r[k] for r in per_image.values()])) for k in METRIC_NAMES}


def _write_text_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def results_json(per_image):
    return json.dumps({"per_image": per_image, "mean": mean_metrics(per_image)}, indent=2) + "\n"


def results_csv(per_image):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("name",) + METRIC_NAMES)
    for name, result in per_image.items():
        writer.writerow((name,) + tuple(repr(result[k]) for k in METRIC_NAMES))
    return buf.getvalue()


def format_table(per_image, title):
    """Mean metrics in the units the papers print (each column header names its unit)."""
    means = mean_metrics(per_image)
    heads = [PRINTED_UNITS[k][0] for k in METRIC_NAMES]
    values = [f"{means[k] * PRINTED_UNITS[k][1]:.4f}" for k in METRIC_NAMES]
    widths = [max(len(h), len(v)) for h, v in zip(heads, values)]
    row = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([
        title,
        "Units: SAD is the official value (sum of |error| over the unknown region / 1000); MSE and "
        "fgr MSE x1e3; Grad and Conn /1e3. JSON/CSV hold the official raw units.",
        row(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|", row(values)])


def planned_outputs(args):
    """Result files this run will write; existing ones are an error unless --overwrite."""
    paths = [os.path.join(args.output_dir, f) for f in RESULT_FILES] if args.output_dir else []
    if args.output_json:
        paths.append(args.output_json)
    if args.save_pred:
        paths += [os.path.join(args.output_dir, d) for d in ("pred", "gt")]
    existing = [p for p in paths if os.path.exists(p) and (os.path.isfile(p) or os.listdir(p))]
    if existing and not args.overwrite:
        raise EvalError(f"would overwrite {', '.join(existing)}; pass --overwrite or choose another "
                        "--output-dir / --output-json")
    return paths


def write_results(args, per_image):
    text_json = results_json(per_image)
    if args.output_dir:
        _write_text_atomic(os.path.join(args.output_dir, "results.json"), text_json)
        _write_text_atomic(os.path.join(args.output_dir, "results.csv"), results_csv(per_image))
    if args.output_json:
        _write_text_atomic(args.output_json, text_json)


# ------------------------------------------------------------------ the two modes
def score_image(name, pred_pha, gt_pha, trimap, pred_fgr, gt_fgr):
    """evaluate_image, warning when the scored (cropped) trimap has no unknown pixel."""
    if not (crop_to_multiple_of_4(trimap) == UNKNOWN).any():
        tqdm.write(f"warning: {name}: the trimap has no unknown (128) pixel; all metrics are 0 for it")
    return evaluate_image(pred_pha, gt_pha, trimap, pred_fgr, gt_fgr)


def score_predictions(args, gt, names):
    """{name: metrics} of the saved predictions in args.pred_dir."""
    per_image = {}
    for name in tqdm(names, desc="scoring", unit="img"):
        pha, fgr, trimap = read_ground_truth(gt, name)
        gt_pha, gt_fgr = to_uint8(pha), to_uint8(fgr)
        pred_pha, pred_fgr = read_prediction(args.pred_dir, name, gt_pha.shape)
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


def score_model(args, gt, names):
    """{name: metrics} of the model in args.model_path on the composited ground truth."""
    protocol = Protocol(args.protocol, background_folder(args), args.size, args.seed)
    engine = load_model(args)
    per_image = {}
    for index, name in enumerate(tqdm(names, desc="evaluating", unit="img")):
        pha, fgr, trimap = read_ground_truth(gt, name)
        pha, fgr, bgr = protocol(index, pha, fgr)
        src = pha[:, :, None] * fgr + (1 - pha[:, :, None]) * bgr
        pred_pha, pred_fgr = run_padded(engine, src.astype(np.float32), bgr.astype(np.float32))
        gt_pha, gt_fgr = to_uint8(pha), to_uint8(fgr)
        if trimap is None or not protocol.keeps_trimap:
            trimap = make_trimap(gt_pha)
        pred_pha, pred_fgr = to_uint8(pred_pha), to_uint8(pred_fgr)
        per_image[name] = score_image(name, pred_pha, gt_pha, trimap, pred_fgr, gt_fgr)
        if args.save_pred:
            save_sample(args.output_dir, name, pred_pha.astype(np.float32) / 255,
                        pred_fgr.astype(np.float32) / 255, gt_pha.astype(np.float32) / 255,
                        gt_fgr.astype(np.float32) / 255, trimap)
    return per_image, protocol.describe()


def main(argv=None):
    args = parse_args(argv)
    try:
        gt = GroundTruth.from_args(args)
        names = list_ground_truth(gt)[: args.num_images]
        planned_outputs(args)
        if args.model_path:
            per_image, protocol = score_model(args, gt, names)
            title = f"{args.model_type}({args.backbone}) on {len(names)} images of '{gt.describe()}', {protocol}"
        else:
            per_image = score_predictions(args, gt, names)
            title = f"'{args.pred_dir}' on {len(names)} images of '{gt.describe()}'"
        write_results(args, per_image)
    except (EvalError, OSError, DatasetKeyError) as e:
        raise SystemExit(f"eval.py: error: {e}")
    print(format_table(per_image, title))
    return per_image


if __name__ == "__main__":
    main()
