"""Run a BGMv2 model on numpy batches: ONNX Runtime or Paddle Inference (exported once), or dygraph.

    engine = load_engine("M.pdparams", device="cpu")            # exports once, then cached
    out = engine(src, bgr)      # src, bgr: float32 (B, 3, H, W) in [0, 1], H and W divisible by 4
    out["pha"]                  # float32 (B, 1, H, W) in [0, 1]

Every engine but dygraph runs the checkpoint exported to a static program, once. The exported
program is cached next to the checkpoint (``M.inference/<key>/``), keyed by the checkpoint's
content, the model options, the model's source code and the Paddle version, and written
atomically (temporary folder + rename), so a crash never leaves a cache that later loads.
``engine="auto"`` (the default) picks the fastest engine for the device:
``"onnxruntime"`` on CPU (the program converted to ONNX with paddle2onnx and cached in the same
folder; see ``model.onnx_engine``), ``"inference"`` on GPU (``paddle.inference``, optional TensorRT
and fp16; on CPU it uses oneDNN). With a CPU build of Paddle, "auto" on GPU runs ONNX Runtime's
CUDA provider (the onnxruntime-gpu package; fp32 or fp16). ``engine="dygraph"`` runs the network
eagerly (for debugging; 2-3x slower on CPU).

Outputs (dict of float32 numpy arrays):
    mattingrefine: pha (B,1,H,W), fgr (B,3,H,W), pha_sm (B,1,Hc,Wc), fgr_sm (B,3,Hc,Wc),
                   err_sm (B,1,Hc,Wc), ref_sm (B,1,H/4,W/4)  with Hc = floor(H * backbone_scale)
    mattingbase:   pha (B,1,H,W), fgr (B,3,H,W), err (B,1,H,W), hid (B,32,H,W)
"""
import dataclasses
import glob
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings

import numpy as np
import paddle

from .cpu import cpu_threads, use_cpu_threads
from .loading import MODEL_TYPES, build_model, checkpoint_info, load_checkpoint
from .matting import BACKBONES
from .media import make_ordinary
from .onnx_session import parse_gpu_index
from .refiner import REFINE_MODES

__all__ = ["ENGINES", "ENGINE_HELP", "ModelOptions", "MODEL_ARGUMENTS", "add_model_arguments", "output_names",
           "export_model", "cached_export", "load_engine", "load_exported", "resolve_engine", "check_batch",
           "DygraphEngine", "InferenceEngine", "ExportError"]

log = logging.getLogger(__name__)

# auto: onnxruntime on CPU, inference on GPU (see resolve_engine)
ENGINES = ("auto", "onnxruntime", "inference", "dygraph")
ENGINE_HELP = ("auto (default): the fastest for the device, ONNX Runtime on CPU, Paddle Inference on GPU "
               "(ONNX Runtime's CUDA provider with a CPU build of Paddle); onnxruntime (GPU: onnxruntime-gpu); "
               "inference: Paddle Inference (oneDNN on CPU); dygraph: eager, for debugging")
OUTPUTS = {"mattingbase": ("pha", "fgr", "err", "hid"),
           "mattingrefine": ("pha", "fgr", "pha_sm", "fgr_sm", "err_sm", "ref_sm")}
PROGRAM_FILES = ("model.json", "model.pdiparams")
META_FILE = "meta.json"
# Passes whose oneDNN rewrites break this network (measured with Paddle 3.3.1, see
# shared/PADDLE_NOTES.md): the placement pass crashes on interpolate's float64 scale attribute,
# the three fuse passes give broadcast errors or wrong patches in the patch refiner.
ONEDNN_BROKEN_PASSES = ("onednn_placement_pass", "operator_unsqueeze_onednn_fuse_pass",
                        "operator_reshape_onednn_fuse_pass", "operator_scale_onednn_fuse_pass")


ONEDNN_CACHED_SHAPES = 8


class ExportError(RuntimeError):
    """An exported model folder is missing, incomplete or not a BGMv2 export."""


def output_names(model_type):
    """Names of the model's outputs, in forward() order."""
    if model_type not in OUTPUTS:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    return OUTPUTS[model_type]


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Everything that defines the network besides its weights (the arguments of ``build_model``)."""
    model_type: str = "mattingrefine"
    backbone: str = "resnet50"
    backbone_scale: float = 0.25
    refine_mode: str = "sampling"
    refine_sample_pixels: int = 80_000
    refine_threshold: float = 0.1
    refine_kernel_size: int = 3
    refine_prevent_oversampling: bool = True

    @classmethod
    def for_checkpoint(cls, path, **overrides):
        """Options whose backbone, model type and refiner kernel size come from the checkpoint's keys.

        ``overrides`` (option=value; None means "not given") replace the defaults and the
        checkpoint's values; unknown names raise TypeError.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        info = checkpoint_info(path)
        values = {"backbone": info["backbone"], "model_type": info["model_type"]}
        if info["refine_kernel_size"] is not None:
            values["refine_kernel_size"] = info["refine_kernel_size"]
        values.update(given)
        return cls(**values)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown model option(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def outputs(self):
        return output_names(self.model_type)

    def build(self):
        """The network (weights uninitialised), in eval mode."""
        net = build_model(**self.to_dict())
        net.eval()
        return net


# (type, choices, help) of the command-line options that set a ModelOptions field.
MODEL_ARGUMENTS = {
    "model_type": (str, MODEL_TYPES, "network"),
    "backbone": (str, BACKBONES, "backbone"),
    "backbone_scale": (float, None, "base network input scale, in (0, 1/2]"),
    "refine_mode": (str, REFINE_MODES, "which 4x4 patches the refiner recomputes"),
    "refine_sample_pixels": (int, None, "pixels refined in sampling mode"),
    "refine_threshold": (float, None, "error threshold of thresholding mode"),
}


def add_model_arguments(parser, defaults=None, notes=None):
    """Add --model-type, --backbone, --backbone-scale, --refine-mode, --refine-sample-pixels and
    --refine-threshold to an argparse parser or argument group.

    Defaults are ModelOptions' unless ``defaults`` ({field: value}) replaces them. None means the
    command decides later (from the checkpoint, or ModelOptions' value when nothing else applies);
    the help then names ModelOptions' value unless ``notes`` ({field: text}) says otherwise.
    """
    defaults, notes = defaults or {}, notes or {}
    for name, (kind, choices, text) in MODEL_ARGUMENTS.items():
        default = defaults.get(name, getattr(ModelOptions, name))
        shown = "%(default)s" if default is not None else getattr(ModelOptions, name)
        note = notes.get(name, f"default: {shown}")
        parser.add_argument("--" + name.replace("_", "-"), type=kind, choices=choices, default=default,
                            help=f"{text} ({note})")


# ------------------------------------------------------------------ export
def export_model(net, options, out_dir, overwrite=False):
    """Save ``net`` (built from ``options``) as a static inference program in ``out_dir``.

    Writes model.json + model.pdiparams (batch, height and width dynamic; sampling mode keeps a
    fixed patch count, thresholding gathers a dynamic one) and meta.json (options, output names,
    Paddle version). The folder appears atomically: it is written under a temporary name and
    renamed. An existing ``out_dir`` raises FileExistsError unless ``overwrite``.
    Returns ``out_dir``.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"export folder already exists: '{out_dir}' (pass overwrite=True / --overwrite)")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=parent)
    make_ordinary(tmp)
    try:
        _save_program(net, tmp)
        meta = {"options": options.to_dict(), "outputs": list(options.outputs), "paddle": paddle.__version__}
        with open(os.path.join(tmp, META_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
                          f"create one with tools/export.py)")
    with open(os.path.join(model_dir, META_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("paddle") != paddle.__version__:
        warnings.warn(f"'{model_dir}' was exported with Paddle {meta.get('paddle')}, running with "
                      f"{paddle.__version__}; re-export if it fails to load", stacklevel=2)
    return meta


def _file_digest(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _model_code_digest():
    """Digest of this package's source: a changed network must not load a stale cached program."""
    h = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.py"))):
        h.update(os.path.basename(path).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def cache_key(model_path, options):
    """Hex key of (checkpoint content, options, model source, Paddle version)."""
    h = hashlib.sha256()
    defining = options.to_dict()
    if options.model_type == "mattingbase":  # the refine_* options do not change a base network
        defining = {k: defining[k] for k in ("model_type", "backbone")}
    for part in (_file_digest(model_path), json.dumps(defining, sort_keys=True),
                 _model_code_digest(), paddle.__version__):
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


def cached_export(model_path, options, cache_dir=None):
    """Folder of the exported program of ``model_path`` with ``options``, exporting it on first use.

    The checkpoint is loaded strictly (CheckpointError when it does not fit ``options``).
    """
    model_path = os.fspath(model_path)
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"checkpoint not found: '{model_path}'")
    folder = os.path.join(cache_folder(model_path, cache_dir), cache_key(model_path, options))
    if os.path.isfile(os.path.join(folder, META_FILE)):
        return folder
    net = options.build()
    load_checkpoint(net, model_path, strict=True)
    log.info("exporting %s to a static program (once; cached in %s)", model_path, folder)
    # A folder without meta.json is not ours (exports appear by rename, complete): replace it.
    stale = os.path.isdir(folder)
    try:
        export_model(net, options, folder, overwrite=stale)
    except FileExistsError:  # another process finished the same export first
        pass
    return folder


# ------------------------------------------------------------------ engines
def check_batch(src, bgr):
    """float32 C-contiguous (B, 3, H, W) arrays, same shape, H and W divisible by 4."""
    arrays = []
    for name, x in (("src", src), ("bgr", bgr)):
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"{name} must be a (B, 3, H, W) array, got shape {x.shape}")
        arrays.append(np.ascontiguousarray(x, dtype=np.float32))
    src, bgr = arrays
    if src.shape != bgr.shape:
        raise ValueError(f"src and bgr must have the same shape, got {src.shape} and {bgr.shape}")
    if src.shape[2] % 4 or src.shape[3] % 4:
        raise ValueError(f"height and width must be divisible by 4, got {src.shape[2]}x{src.shape[3]} "
                         f"(pad the input; model.predictor does it for you)")
    return src, bgr


def parse_device(device, paddle_runs_it=True):
    """("cpu", 0) or ("gpu", id) from "cpu", "gpu" or "gpu:N"; None means Paddle's current device.
    A GPU that Paddle runs on (``paddle_runs_it``) needs a CUDA build of Paddle (ValueError)."""
    if device is None:
        device = paddle.device.get_device()
    gpu = parse_gpu_index(device)
    if gpu is not None and paddle_runs_it and not paddle.is_compiled_with_cuda():
        raise ValueError(f"device {device!r} needs a CUDA build of Paddle (paddlepaddle-gpu); this one is CPU-only")
    return ("cpu", 0) if gpu is None else ("gpu", gpu)


class DygraphEngine:
    """Runs a paddle.nn.Layer eagerly. ``net`` must be in eval mode (``ModelOptions.build`` does it).

    threads: CPU threads of Paddle's dygraph kernels (default: ``model.cpu.cpu_threads``).
    """

    def __init__(self, net, options, device="cpu", threads=None):
        kind, index = parse_device(device)
        paddle.set_device("cpu" if kind == "cpu" else f"gpu:{index}")
        if kind == "cpu":
            use_cpu_threads(threads)
        self.net = net
        self.options = options
        self.outputs = options.outputs

    def __call__(self, src, bgr):
        src, bgr = check_batch(src, bgr)
        with paddle.no_grad():
            outs = self.net(paddle.to_tensor(src), paddle.to_tensor(bgr))
        return {name: out.numpy() for name, out in zip(self.outputs, outs)}


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
    tmp = tempfile.mkdtemp(prefix=".tmp-tensorrt-", dir=model_dir)
    try:
        config = TensorRTConfig(inputs=inputs, precision_mode=PrecisionMode.FP16 if precision == "fp16"
                                else PrecisionMode.FP32)
        config.save_model_dir = os.path.join(tmp, "model")  # writes model.json + model.pdiparams
        convert(os.path.join(model_dir, "model"), config)
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


class InferenceEngine:
    """Runs an exported program (``export_model``) with paddle.inference.

    Args:
        model_dir: folder with model.json, model.pdiparams and meta.json.
        device: "cpu", "gpu" or "gpu:N".
        threads: CPU math threads (default: ``model.cpu.cpu_threads``, i.e. $OMP_NUM_THREADS, else all cores).
        onednn: use oneDNN kernels on CPU (the fast path; False for Paddle's plain kernels).
        precision: "fp32" or "fp16" (GPU only).
        tensorrt: run supported subgraphs with TensorRT (GPU only; see ``tensorrt_program``: input
            shapes between ``trt_min_shape`` and ``trt_max_shape``, tuned for ``trt_opt_shape``,
            each (B, H, W)).
    """

    def __init__(self, model_dir, device="cpu", threads=None, onednn=True, precision="fp32", tensorrt=False,
                 trt_min_shape=(1, 64, 64), trt_opt_shape=(1, 1080, 1920), trt_max_shape=(1, 2160, 3840)):
        from paddle import inference
        meta = read_export_meta(model_dir)
        self.model_dir = os.fspath(model_dir)
        self.options = ModelOptions.from_dict(meta["options"])
        self.outputs = tuple(meta["outputs"])
        kind, index = parse_device(device)
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be 'fp32' or 'fp16', got {precision!r}")
        if kind == "cpu" and (precision == "fp16" or tensorrt):
            raise ValueError("fp16 precision and TensorRT need device='gpu'")
        program_dir = self.model_dir
        if tensorrt:
            program_dir = tensorrt_program(self.model_dir, precision, trt_min_shape, trt_opt_shape, trt_max_shape)
        config = inference.Config(*(os.path.join(program_dir, f) for f in PROGRAM_FILES))
        if kind == "cpu":
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(cpu_threads(threads))
            if onednn:
                config.enable_mkldnn()
                # oneDNN keeps kernels per input shape: bound them for folders of photos of many sizes.
                config.set_onednn_cache_capacity(ONEDNN_CACHED_SHAPES)
                for name in ONEDNN_BROKEN_PASSES:
                    config.delete_pass(name)
            else:
                config.disable_mkldnn()  # the CPU build enables oneDNN unless told not to
        else:
            # A TensorRT program carries its own precision; the rest of it runs in fp32.
            half = precision == "fp16" and not tensorrt
            config.enable_use_gpu(256, index, inference.PrecisionType.Half if half else
                                  inference.PrecisionType.Float32)
        config.disable_glog_info()
        self.config = config
        self.predictor = inference.create_predictor(config)
        self._inputs = [self.predictor.get_input_handle(n) for n in self.predictor.get_input_names()]
        self._outputs = [self.predictor.get_output_handle(n) for n in self.predictor.get_output_names()]
        if len(self._outputs) != len(self.outputs):
            raise ExportError(f"'{model_dir}': program has {len(self._outputs)} outputs, meta.json names "
                              f"{len(self.outputs)}")

    def __call__(self, src, bgr):
        src, bgr = check_batch(src, bgr)
        for handle, x in zip(self._inputs, (src, bgr)):
            handle.reshape(list(x.shape))
            handle.copy_from_cpu(x)
        self.predictor.run()
        return {name: handle.copy_to_cpu().astype(np.float32, copy=False)
                for name, handle in zip(self.outputs, self._outputs)}


def resolve_engine(engine, device="cpu"):
    """The engine that ``engine`` means on ``device``: "auto" is "onnxruntime" on CPU (or
    "inference" when onnxruntime or paddle2onnx is not installed) and "inference" on GPU (or
    "onnxruntime", its CUDA provider, when Paddle is a CPU build)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    on_cpu = parse_device(device, paddle_runs_it=engine in ("inference", "dygraph"))[0] == "cpu"
    if engine != "auto":
        return engine
    if not on_cpu:
        return "inference" if paddle.is_compiled_with_cuda() else "onnxruntime"
    missing = [name for name in ("onnxruntime", "paddle2onnx") if importlib.util.find_spec(name) is None]
    if missing:
        log.warning("%s not installed: running Paddle Inference instead of ONNX Runtime "
                    "(pip install -r requirements.txt)", " and ".join(missing))
        return "inference"
    return "onnxruntime"


def _check_onnxruntime_options(engine_options):
    """ONNX Runtime takes ``threads`` and ``precision``; refuse Paddle Inference's options instead of ignoring them."""
    asked = [name for name, value, default in (("tensorrt", engine_options.get("tensorrt", False), False),
                                                ("onednn", engine_options.get("onednn", True), True))
             if value != default]
    if asked:
        raise ValueError(f"{', '.join(asked)}: option(s) of engine 'inference', not of 'onnxruntime'")


def load_exported(model_dir, device="cpu", engine="auto", **engine_options):
    """The engine of an exported folder (``tools/export.py`` or the cache): ONNX Runtime or Paddle
    Inference (``resolve_engine``); ``engine_options`` as for ``load_engine``."""
    engine = resolve_engine(engine, device)
    if engine == "dygraph":
        raise ValueError("an exported folder runs with engine 'auto', 'onnxruntime' or 'inference', not 'dygraph'")
    if engine == "onnxruntime":
        _check_onnxruntime_options(engine_options)
        from .onnx_engine import OnnxRuntimeEngine  # it imports this module
        return OnnxRuntimeEngine(model_dir, device=device, threads=engine_options.get("threads"),
                                 precision=engine_options.get("precision", "fp32"))
    return InferenceEngine(model_dir, device=device, **engine_options)


def load_engine(model_path, options=None, engine="auto", device="cpu", cache_dir=None, **engine_options):
    """A callable ``engine(src, bgr) -> {name: array}`` for the checkpoint ``model_path``.

    Args:
        model_path: .pdparams (or official .pth) checkpoint.
        options: ModelOptions; default ``ModelOptions.for_checkpoint(model_path)``.
        engine: "auto" (the fastest for the device: "onnxruntime" on CPU, "inference" on GPU),
            "onnxruntime", "inference" (exported program, cached next to the checkpoint) or "dygraph".
        device: "cpu", "gpu" or "gpu:N" (None: Paddle's current device).
        cache_dir: where to cache exports when not next to the checkpoint.
        engine_options: threads; precision ("fp16" on GPU) for "onnxruntime" and "inference"; for
            "inference" also onednn, tensorrt, trt_*_shape (see InferenceEngine).
    """
    engine = resolve_engine(engine, device)
    if options is None:
        options = ModelOptions.for_checkpoint(model_path)
    if engine == "dygraph":
        if engine_options.get("precision", "fp32") != "fp32" or engine_options.get("tensorrt"):
            raise ValueError("precision fp16 and tensorrt are options of the exported engines, not of 'dygraph'")
        kind, index = parse_device(device)
        paddle.set_device("cpu" if kind == "cpu" else f"gpu:{index}")
        net = options.build()
        load_checkpoint(net, model_path, strict=True)
        return DygraphEngine(net, options, device, engine_options.get("threads"))
    return load_exported(cached_export(model_path, options, cache_dir), device, engine, **engine_options)
