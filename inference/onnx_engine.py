"""ONNX export of an exported program, and the ONNX Runtime engine (the fast CPU path).

    path = export_onnx("M.inference/<key>", "model.onnx")      # paddle2onnx + the rewrite below
    engine = OnnxRuntimeEngine("M.inference/<key>")             # converts once, then cached
    out = engine(src, bgr)       # like InferenceEngine: dict of float32 arrays
    engine = OnnxRuntimeEngine("M.inference/<key>", device="gpu", precision="fp16")  # onnxruntime-gpu

On CPU ONNX Runtime runs this network faster than Paddle Inference with oneDNN (its MLAS
convolutions and resizes; measured in benchmarks/bench_inference.py), so it is the default CPU
engine. On GPU its CUDA provider runs the same model (fp16: ``inference.onnx_session.float16_model``).
The ONNX models are converted from the exported Paddle program (``inference.export``) and
cached beside it.
"""
import collections
import contextlib
import os
import sys

import numpy as np

from common.atomic import atomic_path
from common.cpu import cpu_threads
from model.options import ModelOptions
from .batch import check_batch
from .export import PROGRAM_FILES, ExportError, read_export_meta
from .onnx_session import _inputs, create_session, float16_model, parse_gpu_index

__all__ = ["export_onnx", "pad_conv_channels", "channel_block", "cached_onnx", "cached_float16", "OnnxRuntimeEngine"]


def channel_block(cpuinfo_path="/proc/cpuinfo"):
    """Channels per block of ONNX Runtime's blocked CPU convolutions (NCHWc): 16 with AVX-512, else 8."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as f:
            return 16 if "avx512f" in f.read().split() else 8
    except OSError:
        return 8


def export_onnx(model_dir, onnx_path, opset_version=16, overwrite=False, block=None):
    """Convert an exported program (``export_model``) to ONNX with paddle2onnx; atomic like the export.

    The ONNX model has the inputs src, bgr (B, 3, H, W) and the outputs named in meta.json; its
    dense convolutions get input channels zero-padded to a multiple of ``block`` (default:
    ``channel_block()``; see ``pad_conv_channels``). It is run once in onnxruntime before it is
    written (ExportError when it fails). Returns ``onnx_path``.
    """
    import onnx
    import paddle2onnx
    meta = read_export_meta(model_dir)
    onnx_path = os.path.abspath(os.fspath(onnx_path))
    if os.path.exists(onnx_path) and not overwrite:
        raise FileExistsError(f"ONNX file already exists: '{onnx_path}' (pass overwrite=True / --overwrite)")
    with atomic_path(onnx_path, suffix=".onnx") as tmp:
        try:
            # Its log goes to stdout: keep that for the commands' tables. No Polygraphy constant
            # folding (optimize_tool None): ONNX Runtime folds the graph itself at load, and the
            # folding takes seconds and sets $POLYGRAPHY_AUTOINSTALL_DEPS (pip installs at run time).
            with contextlib.redirect_stdout(sys.stderr):
                paddle2onnx.export(*(os.path.join(model_dir, f) for f in PROGRAM_FILES), tmp,
                                   opset_version=opset_version, enable_onnx_checker=True, optimize_tool=None)
        except SystemExit as e:  # paddle2onnx exits on unsupported ops instead of raising
            raise ExportError(f"paddle2onnx could not convert '{model_dir}' (exit status {e.code}; its log "
                              f"above names the op)") from None
        if not os.path.getsize(tmp):
            raise ExportError(f"paddle2onnx could not convert '{model_dir}' (see its log above)")
        model = onnx.load(tmp)
        for output, name in zip(model.graph.output, meta["outputs"]):
            _rename_value(model.graph, output.name, name)
        pad_conv_channels(model, block or channel_block())
        _remove_unused_values(model.graph)
        onnx.checker.check_model(model)
        onnx.save(model, tmp)
        _check_onnx_runs(tmp, model_dir)
    return onnx_path


def pad_conv_channels(model, multiple):
    """Give the dense Convs of ``model`` (an onnx.ModelProto, changed in place) whose input is a
    channel Concat a multiple of ``multiple`` input channels: zeros become one more Concat input,
    and the weights get zero input channels.

    The outputs do not change. ONNX Runtime then runs these convolutions with its blocked kernels
    instead of im2col + GEMM (3-4x faster on the refiner's batch of 8x8 patches). Other inputs
    need no help: a convolution's output is blocked already, zero-padded to whole blocks, and
    ONNX Runtime converts the network's first, 6-channel input itself.
    Returns the number of Conv nodes changed.
    """
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    uses = collections.Counter(name for node in graph.node for name in node.input)
    changed = 0
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        group = next((a.i for a in conv.attribute if a.name == "group"), 1)
        source, value = producers.get(conv.input[0]), conv.input[0]
        while source is not None and source.op_type == "Identity" and uses[value] == 1:
            source, value = producers.get(source.input[0]), source.input[0]
        axis = next((a.i for a in source.attribute if a.name == "axis"), None) if source is not None else None
        if group != 1 or source is None or source.op_type != "Concat" or axis != 1 or uses[value] != 1:
            continue
        weight = _constant(conv.input[1], initializers, producers)  # decoded only for these few convs
        extra = -weight.shape[1] % multiple if weight is not None else 0
        if extra == 0:
            continue
        tag = f"{conv.name or conv.output[0]}.channel_pad"
        padded = np.concatenate([weight, np.zeros((weight.shape[0], extra, *weight.shape[2:]), weight.dtype)], axis=1)
        first = source.input[0]  # the zeros are shaped like it, with ``extra`` channels
        graph.initializer.extend([numpy_helper.from_array(padded, f"{tag}.weight"),
                                  numpy_helper.from_array(np.array([extra], np.int64), f"{tag}.extra")])
        conv.input[1] = f"{tag}.weight"
        source.input.append(f"{tag}.zeros")
        _insert_before(graph, source, [
            helper.make_node("Shape", [first], [f"{tag}.batch"], end=1),
            helper.make_node("Shape", [first], [f"{tag}.spatial"], start=2),
            helper.make_node("Concat", [f"{tag}.batch", f"{tag}.extra", f"{tag}.spatial"], [f"{tag}.shape"], axis=0),
            helper.make_node("ConstantOfShape", [f"{tag}.shape"], [f"{tag}.zeros"],
                             value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))])
        changed += 1
    return changed


def _constant(name, initializers, producers):
    """The value of an initializer or of a Constant node's output (paddle2onnx writes weights as
    either), else None."""
    from onnx import numpy_helper
    if name in initializers:
        return numpy_helper.to_array(initializers[name])
    node = producers.get(name)
    if node is not None and node.op_type == "Constant":
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        return None if value is None else numpy_helper.to_array(value)
    return None


def _insert_before(graph, node, new_nodes):
    """Insert ``new_nodes`` just before ``node`` (ONNX keeps nodes in topological order)."""
    index = list(graph.node).index(node)
    for offset, new in enumerate(new_nodes):
        graph.node.insert(index + offset, new)


def _check_onnx_runs(path, model_dir):
    """Run the converted model once in onnxruntime: paddle2onnx can write models that do not run."""
    rng = np.random.default_rng(0)
    src = rng.random((1, 3, 64, 96), dtype=np.float32)
    try:
        create_session(path).run(None, {"src": src, "bgr": np.ascontiguousarray(src[:, :, ::-1])})
    except Exception as e:  # onnxruntime's error types are not part of its public API
        raise ExportError(f"paddle2onnx converted '{model_dir}', but onnxruntime cannot run the result: {e}") from e


def _remove_unused_values(graph):
    """Drop the nodes (and then initializers) whose results nothing reads: paddle2onnx leaves ~30
    Constant nodes of shapes it folded, and ONNX Runtime warns "Removing initializer ..." for each
    one at every session start."""
    while True:
        used = {name for node in graph.node for name in _inputs(node)} | {v.name for v in graph.output}
        dead = [i for i, node in enumerate(graph.node) if not any(o in used for o in node.output)]
        if not dead:
            break
        for i in reversed(dead):
            del graph.node[i]
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def _rename_value(graph, old, new):
    """Rename a value of an ONNX graph (paddle2onnx names outputs fetch_name_N)."""
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in graph.output:
        if value.name == old:
            value.name = new


def cached_onnx(model_dir):
    """The ONNX model of an exported program folder, converted on first use and kept in the folder
    (named by what decides the conversion: the paddle2onnx version and the channel block)."""
    import paddle2onnx
    block = channel_block()
    path = os.path.join(os.fspath(model_dir), f"model.paddle2onnx-{paddle2onnx.__version__}.c{block}.onnx")
    if not os.path.isfile(path):
        try:
            export_onnx(model_dir, path, block=block)
        except FileExistsError:  # another process converted it first
            pass
    return path


def cached_float16(onnx_path):
    """The fp16 model (``float16_model``) of the ONNX file ``onnx_path``, converted on first use and
    kept beside it as ``<name>.fp16.onnx`` (written atomically)."""
    import onnx
    path = f"{os.fspath(onnx_path)[:-len('.onnx')]}.fp16.onnx"
    if not os.path.isfile(path):
        with atomic_path(path, suffix=".onnx") as tmp:
            onnx.save(float16_model(onnx.load(onnx_path)), tmp)
    return path


class OnnxRuntimeEngine:
    """Runs an exported program folder (``export_model``) with ONNX Runtime.

    Args:
        model_dir: folder with model.json, model.pdiparams and meta.json; the ONNX model is
            converted into it on first use (``cached_onnx``).
        device: "cpu", or "gpu" / "gpu:N" for the CUDA provider (the onnxruntime-gpu package).
        threads: CPU threads (default: ``common.cpu.cpu_threads``, i.e. $OMP_NUM_THREADS, else all cores).
        precision: "fp32", or "fp16" on GPU (``cached_float16``; inputs and outputs stay float32).
    """

    def __init__(self, model_dir, device="cpu", threads=None, precision="fp32"):
        meta = read_export_meta(model_dir)
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be 'fp32' or 'fp16', got {precision!r}")
        if precision == "fp16" and parse_gpu_index(device) is None:
            raise ValueError("precision fp16 needs device='gpu' (ONNX Runtime has no fast fp16 CPU kernels)")
        self.model_dir = os.fspath(model_dir)
        self.options = ModelOptions.from_dict(meta["options"])
        self.outputs = tuple(meta["outputs"])
        path = cached_onnx(model_dir)
        self.session = create_session(cached_float16(path) if precision == "fp16" else path, device,
                                      cpu_threads(threads))

    def __call__(self, src, bgr):
        src, bgr = check_batch(src, bgr)
        return dict(zip(self.outputs, self.session.run(list(self.outputs), {"src": src, "bgr": bgr})))
