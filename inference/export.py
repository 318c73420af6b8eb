"""Export a BGMv2 network to a static Paddle program, and the export cache of each checkpoint.

    folder = export_model(net, options, "exported/")          # model.json, model.pdiparams, meta.json
    folder = cached_export("M.pdparams")                       # exports once, then cached

The cache of a checkpoint ``M.pdparams`` lives next to it (``M.inference/``; a user cache folder
when that is not writable) and is keyed first by the file's SHA-256: ``<digest>/checkpoint.json``
holds the checkpoint's backbone and model type, so a warm cache never deserialises the checkpoint
at all, and ``<digest>/<key>/`` holds one export, keyed by the options, the code that defines the
exported program (``DEFINING_MODULES``) and the Paddle version. Every folder and file appears
atomically (``common.atomic``), so a crash never leaves a cache entry that later loads.
"""
import hashlib
import json
import logging
import os
import sys
import warnings

import paddle

from common.atomic import atomic_folder, write_text
from common.errors import EXIT_FAILURE, BGMv2Error
from model import aspp, decoder, matting, mobilenet, options as options_module, refiner, resnet, utils
from model.loading import load_checkpoint, read_state_dict, state_info
from model.options import ModelOptions

__all__ = ["PROGRAM_FILES", "META_FILE", "ExportError", "export_model", "read_export_meta", "cache_key",
           "cache_folder", "user_cache_dir", "export_folder", "cached_export", "tensorrt_program"]

log = logging.getLogger(__name__)

PROGRAM_FILES = ("model.json", "model.pdiparams")
META_FILE = "meta.json"
CHECKPOINT_INFO_FILE = "checkpoint.json"


class ExportError(BGMv2Error, RuntimeError):
    """An exported model folder is missing, incomplete or not a BGMv2 export, or Paddle could not write one."""
    exit_code = EXIT_FAILURE


def export_model(net, options, out_dir, overwrite=False):
    """Save ``net`` (built from ``options``) as a static inference program in ``out_dir``.

    Writes model.json + model.pdiparams (batch, height and width dynamic; sampling mode keeps a
    fixed patch count, thresholding gathers a dynamic one) and meta.json (options, output names,
    Paddle version). The folder appears atomically. An existing ``out_dir`` raises
    FileExistsError unless ``overwrite``. Returns ``out_dir``.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    with atomic_folder(out_dir, overwrite=overwrite) as tmp:
        _save_program(net, tmp)
        meta = {"options": options.to_dict(), "outputs": list(options.outputs), "paddle": paddle.__version__}
        with open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
    return out_dir


def _save_program(net, folder):
    from paddle.static import InputSpec
    spec = [InputSpec([None, 3, None, None], "float32", "src"), InputSpec([None, 3, None, None], "float32", "bgr")]
    net.eval()
    with warnings.catch_warnings():  # Paddle's tracing chatter ("Tensor do not have 'place'...") is not for users
        warnings.simplefilter("ignore")
        static = paddle.jit.to_static(net, input_spec=spec, full_graph=True)
        paddle.jit.save(static, os.path.join(folder, "model"))
    missing = [f for f in PROGRAM_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:  # e.g. the legacy .pdmodel format (FLAGS_enable_pir_api=0) was selected
        raise ExportError(f"paddle.jit.save did not write {', '.join(missing)} "
                          f"(wrote {sorted(os.listdir(folder))}); run with the PIR API enabled")


def read_export_meta(model_dir):
    """meta.json of an export folder; ExportError naming the folder when it is not one."""
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        raise ExportError(f"exported model folder not found: '{model_dir}'")
    missing = [f for f in PROGRAM_FILES + (META_FILE,) if not os.path.isfile(os.path.join(model_dir, f))]
    if missing:
        raise ExportError(f"'{model_dir}' is not an exported BGMv2 model (missing {', '.join(missing)}; "
                          f"create one with python -m tools.export)")
    with open(os.path.join(model_dir, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("paddle") != paddle.__version__:
        warnings.warn(f"'{model_dir}' was exported with Paddle {meta.get('paddle')}, running with "
                      f"{paddle.__version__}; re-export if it fails to load", stacklevel=2)
    return meta


# ------------------------------------------------------------------ cache
# The modules whose code defines an exported program: the networks, their options, and this exporter.
DEFINING_MODULES = (aspp, decoder, matting, mobilenet, options_module, refiner, resnet, utils)


def _file_digest(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_SELF = sys.modules[__name__]


def _code_digest():
    """Digest of the code that defines an exported program: a changed network must not load a stale one."""
    h = hashlib.sha256()
    for path in sorted(m.__file__ for m in DEFINING_MODULES + (_SELF,)):
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def cache_key(options):
    """Hex key of (options that define the network, its code, the Paddle version)."""
    h = hashlib.sha256()
    for part in (json.dumps(options.defining(), sort_keys=True), _code_digest(), paddle.__version__):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def user_cache_dir():
    """$BGMV2_CACHE_DIR, else $XDG_CACHE_HOME/bgmv2-paddle, else ~/.cache/bgmv2-paddle."""
    if os.environ.get("BGMV2_CACHE_DIR"):
        return os.environ["BGMV2_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bgmv2-paddle")


def cache_folder(model_path, cache_dir=None):
    """Folder that holds the cached exports of a checkpoint: ``M.inference`` next to ``M.pdparams``
    when that folder is writable, else ``<user cache>/<M>-<path digest>`` (or below ``cache_dir``)."""
    model_path = os.path.abspath(os.fspath(model_path))
    stem = os.path.splitext(os.path.basename(model_path))[0]
    if cache_dir is None:
        beside = os.path.dirname(model_path)
        if os.access(beside, os.W_OK):
            return os.path.join(beside, stem + ".inference")
        cache_dir = user_cache_dir()
    return os.path.join(cache_dir, f"{stem}-{hashlib.sha256(model_path.encode()).hexdigest()[:8]}")


def _checkpoint_entry(model_path, cache_dir=None):
    """The cache folder of one checkpoint's content: ``cache_folder/<file digest>``."""
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"checkpoint not found: '{model_path}'")
    return os.path.join(cache_folder(model_path, cache_dir), _file_digest(model_path)[:16])


def export_folder(model_path, options, cache_dir=None):
    """Where ``cached_export`` keeps the export of ``model_path`` with ``options``."""
    return os.path.join(_checkpoint_entry(os.fspath(model_path), cache_dir), cache_key(options))


class _Checkpoint:
    """A checkpoint file, deserialised at most once and only when needed."""

    def __init__(self, path):
        self.path = path
        self._state = None

    @property
    def state(self):
        if self._state is None:
            self._state = read_state_dict(self.path)
        return self._state


def cached_export(model_path, options=None, cache_dir=None, **overrides):
    """Folder of the exported program of the checkpoint ``model_path``, exported on first use.

    options: ModelOptions; default: backbone, model type and refiner kernel from the checkpoint,
        the rest ModelOptions' defaults, replaced by ``overrides`` (option=value; None = not given).
    The checkpoint is read at most once, and not at all when the cache already holds both its
    description and the export. It is loaded strictly (CheckpointError when it does not fit).
    """
    model_path = os.fspath(model_path)
    entry = _checkpoint_entry(model_path, cache_dir)
    checkpoint = _Checkpoint(model_path)
    if options is None:
        options = _options_for(checkpoint, os.path.join(entry, CHECKPOINT_INFO_FILE), overrides)
    folder = os.path.join(entry, cache_key(options))
    if os.path.isfile(os.path.join(folder, META_FILE)):
        return folder
    net = options.build()
    load_checkpoint(net, model_path, strict=True, state=checkpoint.state)
    log.info("exporting %s to a static program (once; cached in %s)", model_path, folder)
    # A folder without meta.json is not ours (exports appear by rename, complete): replace it.
    stale = os.path.isdir(folder)
    try:
        export_model(net, options, folder, overwrite=stale)
    except FileExistsError:  # another process finished the same export first
        pass
    return folder


def _options_for(checkpoint, info_path, overrides):
    """ModelOptions from the checkpoint's description (cached in ``info_path``) and ``overrides``."""
    info = None
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
    if info is None:
        info = state_info(checkpoint.state)
        write_text(info_path, json.dumps(info))
    return ModelOptions.from_info(info, **overrides)


def tensorrt_program(model_dir, precision, min_shape, opt_shape, max_shape):
    """Folder of the TensorRT-optimised version of an exported program, converted on first use.

    Paddle 3's TensorRT path for PIR programs (``paddle.tensorrt.convert``): supported subgraphs
    become TensorRT engines built for inputs between ``min_shape`` and ``max_shape`` (each
    (B, H, W)), tuned for ``opt_shape``. Cached in ``model_dir/tensorrt-<precision>-<shapes>/``,
    written atomically. Needs a CUDA build of Paddle with TensorRT (untested on this project's CI).
    """
    from paddle.tensorrt.export import Input, PrecisionMode, TensorRTConfig, convert  # CUDA builds only
    tag = "-".join(["tensorrt", precision] + ["x".join(map(str, s)) for s in (min_shape, opt_shape, max_shape)])
    folder = os.path.join(model_dir, tag)
    if os.path.isfile(os.path.join(folder, PROGRAM_FILES[0])):
        return folder
    shapes = {f"{kind}_input_shape": (b, 3, h, w)
              for kind, (b, h, w) in zip(("min", "optim", "max"), (min_shape, opt_shape, max_shape))}
    inputs = [Input(name=name, **shapes) for name in ("src", "bgr")]
    with atomic_folder(folder, overwrite=True) as tmp:
        config = TensorRTConfig(inputs=inputs, precision_mode=PrecisionMode.FP16 if precision == "fp16"
                                else PrecisionMode.FP32)
        config.save_model_dir = os.path.join(tmp, "model")  # writes model.json + model.pdiparams
        convert(os.path.join(model_dir, "model"), config)
    return folder
