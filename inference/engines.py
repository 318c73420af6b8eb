"""Run a BGMv2 model on numpy batches: ONNX Runtime or Paddle Inference (exported once), or dygraph.

    engine = load_engine("M.pdparams", device="cpu")            # exports once, then cached
    out = engine(src, bgr)      # src, bgr: float32 (B, 3, H, W) in [0, 1], H and W divisible by 4
    out["pha"]                  # float32 (B, 1, H, W) in [0, 1]

Every engine but dygraph runs the checkpoint exported to a static program, once, and cached
next to the checkpoint (``inference.export``).
``engine="auto"`` (the default) picks the fastest engine for the device:
``"onnxruntime"`` on CPU (the program converted to ONNX with paddle2onnx and cached in the same
folder; see ``inference.onnx_engine``), ``"inference"`` on GPU (``paddle.inference``, optional TensorRT
and fp16; on CPU it uses oneDNN). With a CPU build of Paddle, "auto" on GPU runs ONNX Runtime's
CUDA provider (the onnxruntime-gpu package; fp32 or fp16). ``engine="dygraph"`` runs the network
eagerly (for debugging; 2-3x slower on CPU).

Outputs (dict of float32 numpy arrays):
    mattingrefine: pha (B,1,H,W), fgr (B,3,H,W), pha_sm (B,1,Hc,Wc), fgr_sm (B,3,Hc,Wc),
                   err_sm (B,1,Hc,Wc), ref_sm (B,1,H/4,W/4)  with Hc = floor(H * backbone_scale)
    mattingbase:   pha (B,1,H,W), fgr (B,3,H,W), err (B,1,H,W), hid (B,32,H,W)
"""
import importlib.util
import logging
import os

import numpy as np
import paddle

from common.cpu import cpu_threads, use_cpu_threads
from model.loading import load_model
from model.options import ModelOptions
from .export import PROGRAM_FILES, ExportError, cached_export, read_export_meta, tensorrt_program
from .batch import check_batch
from .onnx_engine import OnnxRuntimeEngine
from .onnx_session import parse_gpu_index

__all__ = ["ENGINES", "ENGINE_HELP", "load_engine", "load_exported", "resolve_engine", "check_batch", "parse_device",
           "DygraphEngine", "InferenceEngine"]

log = logging.getLogger(__name__)

# auto: onnxruntime on CPU, inference on GPU (see resolve_engine)
ENGINES = ("auto", "onnxruntime", "inference", "dygraph")
ENGINE_HELP = ("auto (default): the fastest for the device, ONNX Runtime on CPU, Paddle Inference on GPU "
               "(ONNX Runtime's CUDA provider with a CPU build of Paddle); onnxruntime (GPU: onnxruntime-gpu); "
               "inference: Paddle Inference (oneDNN on CPU); dygraph: eager, for debugging")
# Passes whose oneDNN rewrites break this network (measured with Paddle 3.3.1, see
# docs/performance.md): the placement pass crashes on interpolate's float64 scale attribute,
# the three fuse passes give broadcast errors or wrong patches in the patch refiner.
ONEDNN_BROKEN_PASSES = ("onednn_placement_pass", "operator_unsqueeze_onednn_fuse_pass",
                        "operator_reshape_onednn_fuse_pass", "operator_scale_onednn_fuse_pass")
ONEDNN_CACHED_SHAPES = 8


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

    threads: CPU threads of Paddle's dygraph kernels (default: ``common.cpu.cpu_threads``).
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


class InferenceEngine:
    """Runs an exported program (``export_model``) with paddle.inference.

    Args:
        model_dir: folder with model.json, model.pdiparams and meta.json.
        device: "cpu", "gpu" or "gpu:N".
        threads: CPU math threads (default: ``common.cpu.cpu_threads``, i.e. $OMP_NUM_THREADS, else all cores).
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
        return OnnxRuntimeEngine(model_dir, device=device, threads=engine_options.get("threads"),
                                 precision=engine_options.get("precision", "fp32"))
    return InferenceEngine(model_dir, device=device, **engine_options)


def load_engine(model_path, options=None, engine="auto", device="cpu", cache_dir=None, overrides=None,
                **engine_options):
    """A callable ``engine(src, bgr) -> {name: array}`` for the checkpoint ``model_path``.

    Args:
        model_path: .pdparams (or official .pth) checkpoint.
        options: ModelOptions; default: backbone, model type and refiner kernel from the
            checkpoint, the rest ModelOptions' defaults replaced by ``overrides``.
        engine: "auto" (the fastest for the device: "onnxruntime" on CPU, "inference" on GPU),
            "onnxruntime", "inference" (exported program, cached next to the checkpoint) or "dygraph".
        device: "cpu", "gpu" or "gpu:N" (None: Paddle's current device).
        cache_dir: where to cache exports when not next to the checkpoint.
        overrides: {option: value} replacing ModelOptions fields (None values are ignored).
        engine_options: threads; precision ("fp16" on GPU) for "onnxruntime" and "inference"; for
            "inference" also onednn, tensorrt, trt_*_shape (see InferenceEngine).
    The checkpoint is read at most once (not at all with a warm export cache).
    """
    engine = resolve_engine(engine, device)
    overrides = overrides or {}
    if engine != "dygraph":
        return load_exported(cached_export(model_path, options, cache_dir, **overrides), device, engine,
                             **engine_options)
    if engine_options.get("precision", "fp32") != "fp32" or engine_options.get("tensorrt"):
        raise ValueError("precision fp16 and tensorrt are options of the exported engines, not of 'dygraph'")
    kind, index = parse_device(device)
    paddle.set_device("cpu" if kind == "cpu" else f"gpu:{index}")
    net, options = load_model(model_path, options, **overrides)
    return DygraphEngine(net, options, device, engine_options.get("threads"))
