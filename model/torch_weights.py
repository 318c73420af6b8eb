"""Read official BGMv2 PyTorch checkpoints without torch and convert them to Paddle state dicts.

A ``.pth`` written by ``torch.save`` (PyTorch >= 1.6) is a zip archive holding ``data.pkl`` (a pickle
of the state dict whose tensors refer to storages by key) and one raw little-endian file per
storage under ``data/``. The pickle is read by a restricted unpickler that admits only the types
a state dict of tensors needs; anything else (code, arbitrary objects) is rejected, not executed.
"""
import collections
import io
import os
import pickle
import zipfile

import numpy as np

from common.atomic import atomic_path
from common.errors import InputError

__all__ = ["CheckpointError", "load_torch_state_dict", "convert_state_dict", "convert_checkpoint",
           "detect_backbone", "expected_state_shapes"]

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(InputError):
    """A checkpoint that cannot be read or does not fit the model."""


class _Storage:
    """A typed storage referenced by the pickle; its bytes live in the archive's data/<key>."""

    def __init__(self, dtype, key):
        self.dtype, self.key = dtype, key


def _rebuild_tensor(storage, offset, size, stride, *unused):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, *unused):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file, path):
        super().__init__(file)
        self._path = path

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise CheckpointError(f"{self._path}: refusing to load {module}.{name}; a BGMv2 checkpoint holds "
                              "only tensors (is this file a state_dict saved by torch.save?)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and pid[1] in _STORAGE_DTYPES):
            raise CheckpointError(f"{self._path}: unsupported storage reference {pid!r:.80}")
        return _Storage(_STORAGE_DTYPES[pid[1]], str(pid[2]))


def load_torch_state_dict(path):
    """Read a ``torch.save``'d state dict into ``{name: np.ndarray}`` without importing torch.

    Raises CheckpointError for files that are not zip-format torch checkpoints of tensors.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a zip-format PyTorch checkpoint (files from torch < 1.6 "
                              "must be re-saved with a newer torch first)")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder").strip() != b"little":
            raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
        obj = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), path).load()
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise CheckpointError(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
        buffers = {}
        state = collections.OrderedDict()
        for key, value in obj.items():
            if not (isinstance(value, tuple) and value and value[0] == "tensor"):
                raise CheckpointError(f"{path}: entry {key!r} is not a tensor")
            _, storage, offset, size, stride = value
            if storage.key not in buffers:
                buffers[storage.key] = np.frombuffer(archive.read(f"{prefix}data/{storage.key}"), storage.dtype)
            flat = buffers[storage.key]
            itemsize = flat.dtype.itemsize
            view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                                   strides=[s * itemsize for s in stride])
            state[key] = np.array(view)
    return state


def detect_backbone(keys):
    """Backbone name from state-dict keys: mobilenetv2, resnet50 or resnet101."""
    keys = set(keys)
    if any(k.startswith("backbone.features.") for k in keys):
        return "mobilenetv2"
    if any(k.startswith("backbone.layer3.") for k in keys):
        return "resnet101" if "backbone.layer3.22.conv1.weight" in keys else "resnet50"
    raise CheckpointError("cannot detect the backbone: the checkpoint has neither backbone.features.* "
                          "(MobileNetV2) nor backbone.layer3.* (ResNet) keys")


def _rename(key):
    # Paddle's BatchNorm names its running statistics _mean/_variance; it has no batch counter.
    if key.endswith(".num_batches_tracked"):
        return None
    if key.endswith(".running_mean"):
        return key[: -len("running_mean")] + "_mean"
    if key.endswith(".running_var"):
        return key[: -len("running_var")] + "_variance"
    return key


def expected_state_shapes(backbone, refine_kernel_size=None):
    """{name: shape} of our model's state dict: MattingRefine with that refiner kernel size, or
    MattingBase when refine_kernel_size is None."""
    from .matting import MattingBase, MattingRefine  # deferred: imports paddle

    if refine_kernel_size is None:
        net = MattingBase(backbone)
    else:
        net = MattingRefine(backbone, refine_kernel_size=refine_kernel_size)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def convert_state_dict(state, backbone=None):
    """Map a reference state dict ``{name: array}`` onto our parameter names.

    Returns (converted, info) with info = {"backbone", "model_type" ("mattingrefine" or
    "mattingbase"), "refine_kernel_size" (None for a base model)}. Raises CheckpointError naming the missing, extra or
    mis-shaped keys when the checkpoint does not fit a MattingBase/MattingRefine of that backbone.
    """
    detected = detect_backbone(state)
    if backbone is not None and backbone != detected:
        raise CheckpointError(f"checkpoint is a {detected} model, but backbone={backbone!r} was requested")
    converted = collections.OrderedDict()
    for key, value in state.items():
        name = _rename(key)
        if name is not None:
            converted[name] = np.asarray(value, dtype=np.float32) if value.dtype != np.float32 else value
    kernel = converted["refiner.conv1.weight"].shape[-1] if "refiner.conv1.weight" in converted else None
    if kernel not in (None, 1, 3):
        raise CheckpointError(f"refiner.conv1.weight has kernel size {kernel}; BGMv2 refiners use 1 or 3")
    model_type = "mattingbase" if kernel is None else "mattingrefine"
    expected = expected_state_shapes(detected, kernel)
    missing = sorted(set(expected) - set(converted))
    extra = sorted(set(converted) - set(expected))
    wrong = sorted(k for k in set(expected) & set(converted) if tuple(converted[k].shape) != expected[k])
    problems = []
    for label, keys in (("missing", missing), ("unexpected", extra)):
        if keys:
            problems.append(f"{len(keys)} {label} keys: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
    if wrong:
        problems.append("shape mismatch: " + ", ".join(
            f"{k} {tuple(converted[k].shape)} vs {expected[k]}" for k in wrong[:8]))
    if problems:
        raise CheckpointError(f"checkpoint does not fit {model_type} with backbone {detected!r}: "
                              + "; ".join(problems))
    return converted, {"backbone": detected, "model_type": model_type, "refine_kernel_size": kernel}


def convert_checkpoint(input_path, output_path, backbone=None):
    """Convert an official ``.pth`` into a ``.pdparams`` loadable by ``net.set_state_dict(paddle.load(...))``.

    Writes atomically (temporary file + rename). Returns the info dict of ``convert_state_dict``.
    """
    import paddle

    converted, info = convert_state_dict(load_torch_state_dict(input_path), backbone)
    with atomic_path(output_path) as tmp:
        paddle.save({k: paddle.to_tensor(v) for k, v in converted.items()}, tmp)
    return info
