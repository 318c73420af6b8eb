"""The one command-line layer for model, engine and device options, used by predict.py, eval.py,
``tools.export`` and ``tools.speed_test``.

    parser = argparse.ArgumentParser()
    add_weights_arguments(parser)            # --model-path | --inference-model
    add_model_arguments(parser)              # --model-type --backbone --backbone-scale --refine-*
    add_engine_arguments(parser)             # --engine --device --precision --tensorrt --threads
    add_config_argument(parser)              # --config YAML (keys are option names)
    args = parse_args(parser, argv)          # YAML first, the command line wins
    engine = make_engine(args, first_size)   # backbone and model type from the checkpoint

Model options left unset (None) come from the checkpoint (backbone, model type, refiner kernel)
or ModelOptions' defaults; an explicit flag overrides both.
"""
import argparse
import math
import os
import sys

import yaml

from model.matting import BACKBONES
from model.options import MODEL_TYPES, ModelOptions
from model.refiner import REFINE_MODES

__all__ = ["MODEL_ARGUMENTS", "add_weights_arguments", "add_model_arguments", "add_engine_arguments",
           "add_config_argument", "parse_args", "model_overrides", "engine_options", "make_engine",
           "positive_int", "finite_float"]


def finite_float(text):
    """argparse type: a finite float (float() also accepts 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got '{text}'")
    return value


# (type, choices, help) of the command-line options that set a ModelOptions field.
MODEL_ARGUMENTS = {
    "model_type": (str, MODEL_TYPES, "network"),
    "backbone": (str, BACKBONES, "backbone"),
    "backbone_scale": (finite_float, None, "base network input scale, in (0, 1/2]"),
    "refine_mode": (str, REFINE_MODES, "which 4x4 patches the refiner recomputes"),
    "refine_sample_pixels": (int, None, "pixels refined in sampling mode"),
    "refine_threshold": (finite_float, None, "error threshold of thresholding mode"),
}
FROM_CHECKPOINT = "default: from the checkpoint"


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_weights_arguments(parser, required=True, inference_model=True):
    """--model-path (a checkpoint) or, with ``inference_model``, --inference-model (an exported folder)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--model-path", help="checkpoint (.pdparams, or an official .pth)")
    if inference_model:
        group.add_argument("--inference-model", help="folder written by python -m tools.export (its options are "
                                                     "fixed)")
    return group


def add_model_arguments(parser, defaults=None, notes=None):
    """Add --model-type, --backbone, --backbone-scale, --refine-mode, --refine-sample-pixels and
    --refine-threshold. All default to None ("not given": from the checkpoint, else ModelOptions'
    value) unless ``defaults`` ({field: value}) says otherwise; ``notes`` ({field: text}) replaces
    the help's default note."""
    defaults, notes = defaults or {}, notes or {}
    for name, (kind, choices, text) in MODEL_ARGUMENTS.items():
        default = defaults.get(name)
        if name in notes:
            note = notes[name]
        elif name in ("model_type", "backbone"):
            note = FROM_CHECKPOINT
        else:
            note = f"default: {default if default is not None else getattr(ModelOptions, name)}"
        parser.add_argument("--" + name.replace("_", "-"), type=kind, choices=choices, default=default,
                            help=f"{text} ({note})")


def add_engine_arguments(parser, several=False):
    """--engine (one, or with ``several`` one or more), --device, --precision, --tensorrt, --threads."""
    from .engines import ENGINE_HELP, ENGINES
    if several:
        parser.add_argument("--engine", nargs="+", choices=ENGINES, default=["auto"], help=ENGINE_HELP)
    else:
        parser.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)
    parser.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N")
    parser.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                        help="fp16 on GPU only (engines auto, onnxruntime, inference)")
    parser.add_argument("--tensorrt", action="store_true", help="TensorRT subgraphs (GPU, engine auto or inference)")
    parser.add_argument("--threads", type=positive_int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")


def add_config_argument(parser):
    parser.add_argument("--config", help="YAML file of options (keys are option names, e.g. protocol: native); "
                                         "command-line options override it")


def parse_args(parser, argv=None):
    """parser.parse_args with the options of ``--config`` (if the parser has it) read first.

    The YAML mapping {option_name: value} becomes leading command-line tokens, so argparse
    checks their types and choices and the command line, parsed after them, wins. Unknown keys
    are an error naming the key and the file; ``true``/``false`` switch flags.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    known, _ = parser.parse_known_args(argv)
    path = getattr(known, "config", None)
    if not path:
        return parser.parse_args(argv)
    if not os.path.isfile(path):
        parser.error(f"--config file not found: '{path}'")
    with open(path, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            parser.error(f"--config '{path}' is not valid YAML: {e}")
    if not isinstance(config, dict):
        parser.error(f"--config '{path}' must hold a mapping of option: value")
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    tokens = []
    for key, value in config.items():
        action = actions.get(str(key).replace("-", "_"))
        if action is None or action.dest == "config":
            parser.error(f"unknown option '{key}' in --config '{path}'")
        if action.nargs == 0:  # a flag
            tokens += [action.option_strings[-1]] if value else []
        elif isinstance(value, list):
            tokens += [action.option_strings[-1]] + [str(v) for v in value]
        elif value is not None:
            tokens += [action.option_strings[-1], str(value)]
    return parser.parse_args(tokens + argv)


def model_overrides(args):
    """{ModelOptions field: value} of the model options given on the command line (None: not given)."""
    return {name: getattr(args, name) for name in MODEL_ARGUMENTS if getattr(args, name, None) is not None}


def engine_options(args):
    """Keyword arguments of ``load_engine`` / ``load_exported`` from --device, --precision, --tensorrt, --threads."""
    options = {"device": args.device, "precision": args.precision, "tensorrt": args.tensorrt}
    if args.threads:
        options["threads"] = args.threads
    return options


def make_engine(args, first_size=None, engine=None):
    """The engine of the parsed arguments: --inference-model, or --model-path with the model options.

    first_size: (H, W) of the first input; when given and --backbone-scale is not, large inputs
    get a smaller backbone scale (``suggest_backbone_scale``; a note says so on stderr).
    engine: an engine name instead of ``args.engine`` (for commands that run several).
    """
    from .engines import load_engine, load_exported
    from .predictor import suggest_backbone_scale
    name = engine or args.engine
    if getattr(args, "inference_model", None):
        fixed = [f"--{k.replace('_', '-')}" for k in model_overrides(args)]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: the options of --inference-model are fixed by its export "
                             f"(export again with python -m tools.export to change them)")
        if name == "dygraph":
            raise ValueError("--inference-model runs with --engine auto, onnxruntime or inference, not dygraph")
        loaded = load_exported(args.inference_model, engine=name, **engine_options(args))
        scale = loaded.options.backbone_scale
        if first_size and loaded.options.model_type == "mattingrefine" and scale > suggest_backbone_scale(*first_size):
            print(f"note: input is {first_size[1]}x{first_size[0]}; the exported model uses backbone scale {scale}, "
                  f"{suggest_backbone_scale(*first_size)} may work better (export again with --backbone-scale)",
                  file=sys.stderr)
        return loaded
    overrides = model_overrides(args)
    if first_size and "backbone_scale" not in overrides:
        overrides["backbone_scale"] = suggest_backbone_scale(*first_size)
        if overrides["backbone_scale"] != ModelOptions.backbone_scale:
            print(f"note: input is {first_size[1]}x{first_size[0]}; using --backbone-scale "
                  f"{overrides['backbone_scale']} (pass --backbone-scale to choose)", file=sys.stderr)
    return load_engine(args.model_path, engine=name, overrides=overrides, **engine_options(args))
