"""ONNX Runtime sessions on CPU or CUDA, and the fp16 conversion for CUDA.

This module imports neither Paddle nor the rest of the package, so that a machine with only
onnxruntime-gpu can run an exported model (``benchmarks/bench_onnx_gpu.py`` loads it by path).

    session = create_session("model.onnx", device="gpu:0")
    half = float16_model(onnx.load("model.onnx"))   # inputs and outputs stay float32
"""
import collections
import copy

__all__ = ["create_session", "float16_model"]


def parse_gpu_index(device):
    """None for "cpu", else the index N of "gpu" / "gpu:N"."""
    kind, _, index = str(device).partition(":")
    if kind not in ("cpu", "gpu") or (index and not index.isdigit()) or (kind == "cpu" and index):
        raise ValueError(f"device must be 'cpu', 'gpu' or 'gpu:N', got {device!r}")
    return None if kind == "cpu" else int(index or 0)


def create_session(path, device="cpu", threads=1, cuda_options=None):
    """An onnxruntime.InferenceSession for ``path`` on "cpu" or "gpu[:N]" (the CUDA execution
    provider of the onnxruntime-gpu package; ValueError when it is not installed).

    threads: CPU threads (on GPU they run only the few nodes left to the CPU).
    cuda_options: extra options of the CUDA provider (ONNX Runtime's names, e.g. {"prefer_nhwc": "1"}).
    """
    import onnxruntime
    gpu = parse_gpu_index(device)
    settings = onnxruntime.SessionOptions()
    settings.intra_op_num_threads = threads
    settings.inter_op_num_threads = 1
    # Planning one block for all intermediates per input shape costs 1.5x the CPU peak memory at 4K
    # (2.2 GB against 1.5 GB) and buys no speed.
    settings.enable_mem_pattern = False
    # Idle pool threads sleep instead of spinning: spinning took the cores from video decoding and
    # encoding (convert's overhead on the model fell from 1.52x to 1.29x on 2 cores) and saved no time alone.
    settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if gpu is None:
        providers = ["CPUExecutionProvider"]
    else:
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ValueError(f"device {device!r} needs the onnxruntime-gpu package for engine 'onnxruntime' "
                             f"(this onnxruntime has {onnxruntime.get_available_providers()}), or a CUDA build of "
                             f"Paddle (paddlepaddle-gpu) for engine 'inference'")
        if hasattr(onnxruntime, "preload_dlls"):  # CUDA and cuDNN from the nvidia-* pip packages, if there
            onnxruntime.preload_dlls()
        # EXHAUSTIVE: time every cuDNN algorithm once per shape, like torch.backends.cudnn.benchmark.
        options = {"device_id": gpu, "cudnn_conv_algo_search": "EXHAUSTIVE", **(cuda_options or {})}
        providers = [("CUDAExecutionProvider", options), "CPUExecutionProvider"]
    session = onnxruntime.InferenceSession(path, settings, providers=providers)
    if gpu is not None and "CUDAExecutionProvider" not in session.get_providers():  # it falls back silently
        raise ValueError(f"ONNX Runtime could not start its CUDA provider for device {device!r} (its log above "
                         f"names the library it misses: onnxruntime-gpu {onnxruntime.__version__} needs the CUDA "
                         f"and cuDNN versions it was built for)")
    return session


def _inputs(node):
    """The values a node reads, with those its subgraphs (If, Loop) read from the outer graph."""
    names = list(node.input)
    for attribute in node.attribute:
        for graph in _subgraphs(attribute):
            for inner in graph.node:
                names += _inputs(inner)
    return names


def _image_nodes(graph, types):
    """The nodes of ``graph`` that read the float inputs (src, bgr) or float values computed from
    them, and those values. The other nodes compute shapes, patch positions, interpolation weights
    and masks from integer indices (coordinates)."""
    from onnx import TensorProto
    data = {v.name for v in graph.input if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    nodes = []
    for node in graph.node:  # ONNX keeps nodes in topological order
        if any(name in data for name in _inputs(node)):
            nodes.append(node)
            # integer outputs (shapes, top-k indices) start coordinate paths
            data.update(name for name in node.output if types.get(name) == TensorProto.FLOAT)
    return nodes, data


def float16_model(model):
    """An fp16 copy of the float32 onnx.ModelProto ``model`` for the CUDA provider.

    Image data and the weights it meets run in fp16; the inputs and outputs stay float32. The
    coordinate nodes (see ``_image_nodes``) stay float32: in fp16 a pixel coordinate above 1024
    loses its half pixel, above 2048 whole pixels, and a flat index above 65504 overflows.
    Float32 values that meet fp16 data get a Cast (ONNX Runtime folds those of constants).
    """
    from onnx import TensorProto, helper, numpy_helper, shape_inference
    model = copy.deepcopy(model)
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in shape_inference.infer_shapes(model).graph.value_info}
    types.update({t.name: t.data_type for t in graph.initializer})
    types.update({v.name: v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)})
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            types[node.output[0]] = node.attribute[0].t.data_type
    nodes, data = _image_nodes(graph, types)
    fixed = {"Resize": (1, 2)}  # float32 by the operator's definition (roi, scales)
    initializers = {t.name: t for t in graph.initializer}
    uses = collections.Counter(name for node in graph.node for name in _inputs(node))
    casts, index = {}, {id(node): i for i, node in enumerate(graph.node)}
    inserted = []  # (position, node)

    def as_half(name, position):
        if name in initializers and uses[name] == 1:  # converted in place
            array = numpy_helper.to_array(initializers[name]).astype("float16")
            initializers[name].CopyFrom(numpy_helper.from_array(array, name))
            return name
        if name not in casts:
            casts[name] = f"{name}.fp16"
            inserted.append((position, helper.make_node("Cast", [name], [casts[name]], to=TensorProto.FLOAT16,
                                                        name=f"{name}.to_fp16")))
        return casts[name]

    for node in nodes:
        for i, name in enumerate(node.input):
            if name and name not in data and types.get(name) == TensorProto.FLOAT \
                    and i not in fixed.get(node.op_type, ()):
                node.input[i] = as_half(name, index[id(node)])
        if node.op_type == "Cast" and node.attribute[0].i == TensorProto.FLOAT:
            node.attribute[0].i = TensorProto.FLOAT16
    for value in graph.input:  # src, bgr arrive as float32
        if value.name in data:
            half = f"{value.name}.fp16"
            for node in nodes:
                node.input[:] = [half if n == value.name else n for n in node.input]
            inserted.append((0, helper.make_node("Cast", [value.name], [half], to=TensorProto.FLOAT16,
                                                 name=f"{value.name}.to_fp16")))
    for value in graph.output:  # and leave as float32
        if value.name in data:
            half = f"{value.name}.fp16"
            for node in graph.node:  # its producer, and its readers inside the graph
                node.output[:] = [half if n == value.name else n for n in node.output]
                node.input[:] = [half if n == value.name else n for n in node.input]
            inserted.append((len(graph.node), helper.make_node("Cast", [half], [value.name], to=TensorProto.FLOAT,
                                                               name=f"{value.name}.to_fp32")))
    for position, node in sorted(inserted, key=lambda item: item[0], reverse=True):
        graph.node.insert(position, node)
    _clear_value_info(graph)  # stale float32 types; onnxruntime infers them again
    return model


def _clear_value_info(graph):
    del graph.value_info[:]
    for node in graph.node:
        for attribute in node.attribute:
            for inner in _subgraphs(attribute):
                _clear_value_info(inner)


def _subgraphs(attribute):
    return ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
