"""Training configuration: YAML file + command-line overrides, validated before anything runs.

A config is a nested dict with the sections below (see ``configs/*.yaml`` for commented
examples). Every key can be overridden on the command line as ``--SECTION-KEY VALUE``
(underscores become hyphens, e.g. ``--train-batch-size 8``, ``--refine-mode full``); the
reference scripts' flag names work too (``--batch-size``, ``--model-refine-mode``,
``--model-name``, ...). Values given on the command line are parsed as YAML scalars
(``8``, ``1e-4``, ``true``, ``null``).

``train_base.py`` uses the sections without ``refine``; ``train_refine.py`` requires it.
"""
import argparse
import copy
import math
import os

import yaml

from common.errors import InputError
from model.init import SCHEMES as INIT_SCHEMES
from model.matting import BACKBONES
from model.options import MODEL_TYPES, ModelOptions
from model.refiner import REFINE_MODES

__all__ = ["ConfigError", "defaults", "load_config", "build_parser", "config_from_args", "dump_config"]

DECAYS = ("none", "cosine")

_ANY_PATH = (str, type(None))
_NUM = (int, float)

# (section, key): (allowed types, base default, refine default, help)
# A default of ... means "same as base". Sections with key None are top level.
SCHEMA = {
    (None, "name"): (str, "mattingbase", "mattingrefine", "run name; outputs go to WORK_DIR/NAME"),
    (None, "work_dir"): (str, "work_dirs", ..., "folder of all runs"),
    (None, "seed"): (int, 0, ..., "seed of every random choice (data order, augmentation, perturbations)"),
    (None, "device"): (str, "auto", ..., "auto (GPU when available), cpu, gpu, gpu:N"),
    (None, "amp"): ((bool, str), "auto", ..., "mixed precision: true, false, or auto (on for GPU only)"),
    ("dataset", "name"): (str, "videomatte240k", ..., "dataset key in the dataset paths YAML"),
    ("dataset", "paths"): (str, "configs/datasets.yaml", ..., "dataset paths YAML (configs/datasets.yaml schema)"),
    ("dataset", "backgrounds"): (str, "backgrounds", ..., "background key in the dataset paths YAML"),
    ("dataset", "size"): (int, 512, 2048, "side of the square augmented samples"),
    ("dataset", "crop_min"): (int, 256, 1024, "smallest random crop side (reference 256 / 1024)"),
    ("dataset", "crop_max"): (int, 512, 2048, "crop sides are drawn from [crop_min, crop_max)"),
    ("dataset", "valid_samples"): (int, 50, ..., "fixed validation subset size"),
    ("model", "backbone"): (str, "resnet50", ..., f"one of {BACKBONES}"),
    ("model", "pretrain_initialization"): (_ANY_PATH, None, ..., "pretrained weights to start from (model.load_pretrained: "
                                                                  "VainF DeepLabV3 .pth, ImageNet backbone, BGMv2 "
                                                                  "checkpoint; matching keys only); none: from scratch"),
    ("model", "init"): (str, "reference", ..., "initialisation of what no file covers: reference (PyTorch's, "
                                               "as the reference model) or paddle (Paddle's defaults)"),
    ("model", "last_checkpoint"): (_ANY_PATH, None, ..., "weights to start from (matching keys, "
                                                          "e.g. a base checkpoint into a refine model)"),
    ("refine", "backbone_scale"): (_NUM, None, ModelOptions.backbone_scale, "base network input scale, (0, 1/2]"),
    ("refine", "mode"): (str, None, ModelOptions.refine_mode, f"one of {REFINE_MODES}"),
    ("refine", "sample_pixels"): (int, None, ModelOptions.refine_sample_pixels, "pixels refined in sampling mode"),
    ("refine", "threshold"): (_NUM, None, ModelOptions.refine_threshold, "error threshold of thresholding mode"),
    ("refine", "kernel_size"): (int, None, ModelOptions.refine_kernel_size, "1 or 3"),
    ("refine", "prevent_oversampling"): (bool, None, ModelOptions.refine_prevent_oversampling, "skip zero-error patches in sampling mode"),
    ("train", "batch_size"): (int, 4, ..., "global batch size (split over GPUs/processes)"),
    ("train", "num_workers"): (int, 4, ..., "data loading processes per training process"),
    ("train", "epoch_start"): (int, 0, ..., "first epoch of a fresh run"),
    ("train", "epoch_end"): (int, 1, ..., "train until this epoch (exclusive)"),
    ("train", "max_steps"): ((int, type(None)), None, ..., "stop after this many steps in total"),
    ("train", "perturbations"): (bool, True, ..., "the reference's batch perturbations (shadow, noise, "
                                                   "background jitter/misalignment); false: plain composites"),
    ("optim", "lr_backbone"): (_NUM, 1e-4, 5e-5, "Adam learning rate of the backbone"),
    ("optim", "lr_aspp"): (_NUM, 5e-4, 5e-5, "Adam learning rate of the ASPP"),
    ("optim", "lr_decoder"): (_NUM, 5e-4, 1e-4, "Adam learning rate of the decoder"),
    ("optim", "lr_refiner"): (_NUM, None, 3e-4, "Adam learning rate of the refiner (refine only)"),
    ("optim", "warmup_steps"): (int, 0, ..., "linear learning-rate warm-up from 0 over this many steps "
                                             "(0: none, as the reference)"),
    ("optim", "decay"): (str, "none", ..., "learning-rate decay after the warm-up: none (constant, as the "
                                          "reference) or cosine (to 0 at the last step)"),
    ("loss", "laplacian_weight"): (_NUM, 0.0, ..., "weight of the Laplacian-pyramid alpha loss (0: off)"),
    ("log", "train_loss_interval"): (int, 10, ..., "steps between loss scalars"),
    ("log", "train_images_interval"): (int, 1000, ..., "steps between image logs"),
    ("log", "valid_interval"): (int, 2000, ..., "steps between validations (also at the end)"),
    ("checkpoint", "interval"): (int, 2000, ..., "steps between checkpoints (also each epoch end)"),
    ("checkpoint", "keep_last"): (int, 3, ..., "checkpoints kept besides best and final"),
}

# Reference script flag names -> (section, key).
ALIASES = {
    "model-name": (None, "name"),
    "batch-size": ("train", "batch_size"),
    "num-workers": ("train", "num_workers"),
    "epoch-start": ("train", "epoch_start"),
    "epoch-end": ("train", "epoch_end"),
    "model-backbone-scale": ("refine", "backbone_scale"),
    "model-refine-mode": ("refine", "mode"),
    "model-refine-sample-pixels": ("refine", "sample_pixels"),
    "model-refine-threshold": ("refine", "threshold"),
    "model-refine-thresholding": ("refine", "threshold"),
    "model-refine-kernel-size": ("refine", "kernel_size"),
}


class ConfigError(InputError):
    """A bad configuration; the message names the file and the key."""


def _sections(model_type):
    return {s for s, _ in SCHEMA if s is not None and (model_type == "mattingrefine" or s != "refine")}


def _applies(section, key, model_type):
    return model_type == "mattingrefine" or (section != "refine" and key != "lr_refiner")


def defaults(model_type):
    """The default config of ``model_type`` ('mattingbase' or 'mattingrefine') as a nested dict."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    cfg = {s: {} for s in sorted(_sections(model_type))}
    for (section, key), (_, base, refine, _) in SCHEMA.items():
        if not _applies(section, key, model_type):
            continue
        value = base if model_type == "mattingbase" or refine is ... else refine
        (cfg if section is None else cfg[section])[key] = copy.deepcopy(value)
    return cfg


def _flag(section, key):
    return (key if section is None else f"{section}_{key}").replace("_", "-")


def build_parser(model_type, description):
    """argparse parser with --config, --resume, --overwrite and one --SECTION-KEY per config key."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config (configs/*.yaml); command-line options override it")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the latest complete checkpoint of this run (WORK_DIR/NAME)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even though WORK_DIR/NAME holds checkpoints (they are deleted)")
    groups = {}
    for (section, key), (_, base, refine, text) in SCHEMA.items():
        if not _applies(section, key, model_type):
            continue
        group = groups.setdefault(section, parser.add_argument_group(section or "run"))
        names = ["--" + _flag(section, key)] + ["--" + a for a, target in ALIASES.items() if target == (section, key)]
        default = base if model_type == "mattingbase" or refine is ... else refine
        group.add_argument(*names, dest=f"{section or ''}.{key}", default=argparse.SUPPRESS, metavar="V",
                           help=f"{text} (default {default!r})")
    return parser


def _check_types(cfg, model_type, source):
    """Unknown sections/keys and wrong types -> ConfigError naming ``source`` and the dotted key."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(cfg).__name__}")
    sections = _sections(model_type)
    top_keys = {k for s, k in SCHEMA if s is None}
    for name, value in cfg.items():
        if name in top_keys:
            cfg[name] = _check_value(None, name, value, source)
            continue
        if name == "refine" and model_type == "mattingbase":
            raise ConfigError(f"{source}: section 'refine' is only for train_refine.py (this is train_base.py)")
        if name not in sections:
            raise ConfigError(f"{source}: unknown key '{name}' (known: {sorted(sections | top_keys)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{name}' must be a mapping, got {value!r}")
        known = sorted(k for s, k in SCHEMA if s == name and _applies(s, k, model_type))
        for key, v in value.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown key '{name}.{key}' (known in '{name}': {known})")
            value[key] = _check_value(name, key, v, source)


def _check_value(section, key, value, source):
    """``value`` if it has an allowed type (a numeric string such as '1e-4' becomes a float), else ConfigError."""
    types = _types(section, key)
    if isinstance(value, str) and float in types and str not in types:
        try:
            value = float(value)  # PyYAML reads '1e-4' (no dot) as a string
        except ValueError:
            pass
    dotted = key if section is None else f"{section}.{key}"
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise ConfigError(f"{source}: '{dotted}' must be {want}, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):  # YAML .nan / .inf, 'nan', '1e999'
        raise ConfigError(f"{source}: '{dotted}' must be a finite number, got {value!r}")
    return value


def _merge(base, update):
    for name, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name].update(value)
        else:
            base[name] = value
    return base


def _check_values(cfg, model_type, source):
    """Ranges and relations between keys (after merging)."""
    def fail(key, message):
        raise ConfigError(f"{source}: '{key}' {message}")

    if cfg["model"]["backbone"] not in BACKBONES:
        fail("model.backbone", f"must be one of {BACKBONES}, got {cfg['model']['backbone']!r}")
    if cfg["model"]["init"] not in INIT_SCHEMES:
        fail("model.init", f"must be one of {INIT_SCHEMES}, got {cfg['model']['init']!r}")
    if isinstance(cfg["amp"], str) and cfg["amp"] != "auto":
        fail("amp", f"must be true, false or auto, got {cfg['amp']!r}")
    for key in ("train.batch_size", "dataset.size", "dataset.crop_min", "dataset.valid_samples",
                "log.train_loss_interval", "log.train_images_interval", "log.valid_interval",
                "checkpoint.interval", "checkpoint.keep_last"):
        section, name = key.split(".")
        if cfg[section][name] <= 0:
            fail(key, f"must be > 0, got {cfg[section][name]}")
    if cfg["train"]["num_workers"] < 0 or cfg["train"]["epoch_start"] < 0:
        fail("train", "num_workers and epoch_start must be >= 0")
    if cfg["train"]["epoch_end"] <= cfg["train"]["epoch_start"]:
        fail("train.epoch_end", f"must be > train.epoch_start ({cfg['train']['epoch_start']}), "
                                f"got {cfg['train']['epoch_end']}")
    if cfg["train"]["max_steps"] is not None and cfg["train"]["max_steps"] <= 0:
        fail("train.max_steps", f"must be > 0 or null, got {cfg['train']['max_steps']}")
    d = cfg["dataset"]
    if d["crop_max"] <= d["crop_min"]:
        fail("dataset.crop_max", f"must be > dataset.crop_min ({d['crop_min']}), got {d['crop_max']}")
    if model_type == "mattingrefine" and d["crop_min"] < 16:
        fail("dataset.crop_min", f"must be >= 16 for the refiner, got {d['crop_min']}")
    if cfg["optim"]["warmup_steps"] < 0:
        fail("optim.warmup_steps", f"must be >= 0, got {cfg['optim']['warmup_steps']}")
    if cfg["optim"]["decay"] not in DECAYS:
        fail("optim.decay", f"must be one of {DECAYS}, got {cfg['optim']['decay']!r}")
    rates = [k for s, k in SCHEMA if s == "optim" and k.startswith("lr_") and k in cfg["optim"]]
    for key in rates:
        if cfg["optim"][key] is None or cfg["optim"][key] < 0:
            fail(f"optim.{key}", f"must be a number >= 0, got {cfg['optim'][key]!r}")
    if rates and not any(cfg["optim"][key] for key in rates):
        fail("optim", f"every learning rate is 0 ({', '.join(sorted(rates))}): nothing would train")
    if cfg["loss"]["laplacian_weight"] < 0:
        fail("loss.laplacian_weight", f"must be >= 0, got {cfg['loss']['laplacian_weight']}")
    if model_type == "mattingrefine":
        r = cfg["refine"]
        if not 0 < r["backbone_scale"] <= 0.5:
            fail("refine.backbone_scale", f"must be in (0, 0.5], got {r['backbone_scale']}")
        if r["mode"] not in REFINE_MODES:
            fail("refine.mode", f"must be one of {REFINE_MODES}, got {r['mode']!r}")
        if r["kernel_size"] not in (1, 3):
            fail("refine.kernel_size", f"must be 1 or 3, got {r['kernel_size']}")
        if r["sample_pixels"] <= 0:
            fail("refine.sample_pixels", f"must be > 0, got {r['sample_pixels']}")


def load_config(model_type, path=None, overrides=None):
    """Defaults of ``model_type``, updated by the YAML file ``path`` and then by ``overrides``.

    Args:
        model_type: 'mattingbase' or 'mattingrefine'.
        path: YAML file or None. A refine config must have a ``refine`` section; a base config
            must not.
        overrides: {(section or None, key): value} from the command line.
    Returns: the validated nested dict. Raises ConfigError / FileNotFoundError naming the problem.
    """
    cfg = defaults(model_type)
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file not found: '{path}'")
        with open(path, encoding="utf-8") as f:
            try:
                loaded = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"'{path}' is not valid YAML: {e}") from e
        _check_types(loaded, model_type, f"config '{path}'")
        if model_type == "mattingrefine" and "refine" not in loaded:
            raise ConfigError(f"config '{path}': train_refine.py needs a 'refine' section "
                              "(backbone_scale, mode, sample_pixels, threshold, kernel_size, prevent_oversampling)")
        _merge(cfg, loaded)
    for (section, key), value in (overrides or {}).items():
        source = f"command line --{_flag(section, key)}"
        (cfg if section is None else cfg[section])[key] = _check_value(section, key, value, source)
    _check_values(cfg, model_type, f"config '{path}'" if path else "config")
    return cfg


def config_from_args(model_type, args):
    """The config of parsed ``args`` (from :func:`build_parser`): file + overrides."""
    overrides = {}
    for dest, text in vars(args).items():
        if "." not in dest:
            continue
        section, key = dest.split(".")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        overrides[(section or None, key)] = value
    return load_config(model_type, args.config, overrides)


def _types(section, key):
    types = SCHEMA[(section, key)][0]
    return types if isinstance(types, tuple) else (types,)


def dump_config(cfg):
    """YAML text of a config (saved beside the checkpoints)."""
    return yaml.safe_dump(cfg, sort_keys=False)
