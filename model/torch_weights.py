"""Read PyTorch checkpoints without torch (and without running code) and convert them to Paddle state dicts.

Two formats, both a pickle whose tensors refer to raw little-endian storages by key:

* zip (``torch.save``, PyTorch >= 1.6): ``<prefix>/data.pkl`` and one entry ``<prefix>/data/<key>``
  per storage;
* legacy (PyTorch < 1.6, or ``_use_new_zipfile_serialization=False``): five consecutive pickles
  (magic number, protocol 1001, sys_info, the object, the sorted storage keys), then per storage
  an int64 element count and its raw bytes.

The pickle goes through :class:`model.safe_pickle.RestrictedUnpickler`: only tensors, numpy
scalars (VainF's ``best_score``) and containers are admitted; anything else is refused, not run.
Every tensor's offset, sizes and strides are checked against its storage before it is viewed.
"""
import collections
import io
import os
import struct
import zipfile
import zlib

import numpy as np

from common.atomic import atomic_path
from .safe_pickle import NUMPY_GLOBALS, CheckpointError, RestrictedUnpickler, UnsafeCheckpointError, unpickle

__all__ = ["CheckpointError", "load_torch_file", "load_torch_state_dict", "convert_state_dict", "rename_key",
           "convert_checkpoint", "detect_backbone", "expected_state_shapes"]

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_NDIM = 16


class _StorageType(str):
    """What ``torch.FloatStorage`` etc. resolve to: just the name."""


class _Storage:
    """A typed storage referenced by the pickle: ``numel`` elements of ``dtype`` under ``key``."""

    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = np.dtype(dtype), key, numel


class _TensorRef:
    """A tensor as the pickle describes it; its bytes are read (and checked) only when needed."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(storage, offset, size, stride, *unused):
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"tensor storage is a {type(storage).__name__}, not a storage reference")
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


class _TorchUnpickler(RestrictedUnpickler):
    _ALLOWED = {
        **NUMPY_GLOBALS,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
    }

    def __init__(self, file, path, storages=None):
        super().__init__(file, path, self._ALLOWED)
        self.storages = {} if storages is None else storages  # key -> _Storage, for the legacy walk

    def persistent_load(self, pid):
        # zip: ('storage', type, key, location, numel); legacy adds view metadata (None for whole storages)
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0 and (len(pid) == 5 or pid[5] is None)):
            raise CheckpointError(f"{self.path}: unsupported storage reference {pid!r:.80}")
        storage = _Storage(_STORAGE_DTYPES[pid[1]], pid[2], pid[4])
        known = self.storages.setdefault(storage.key, storage)
        if (known.dtype, known.numel) != (storage.dtype, storage.numel):
            raise CheckpointError(f"{self.path}: storage {storage.key!r} is referenced with two types or sizes")
        return storage


def _check_layout(ref, path, key):
    """Raise unless ``ref``'s view (offset, sizes, strides in elements) lies inside its storage."""
    ints = [ref.offset, *ref.size, *ref.stride] if isinstance(ref.size, tuple) and isinstance(ref.stride, tuple) \
        else None
    if ints is None or any(type(n) is not int for n in ints) or len(ref.size) != len(ref.stride) \
            or len(ref.size) > _MAX_NDIM:
        raise CheckpointError(f"{path}: tensor {key!r} has a malformed layout (offset {ref.offset!r:.30}, "
                              f"size {ref.size!r:.60}, stride {ref.stride!r:.60})")
    if min(ints) < 0:
        raise CheckpointError(f"{path}: tensor {key!r} has a negative offset, size or stride "
                              f"(offset {ref.offset}, size {ref.size}, stride {ref.stride})")
    if 0 in ref.size:
        return
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if last >= ref.storage.numel:
        raise CheckpointError(f"{path}: tensor {key!r} (offset {ref.offset}, size {ref.size}, stride "
                              f"{ref.stride}) reaches element {last} of storage {ref.storage.key!r} "
                              f"which holds {ref.storage.numel}")


class _StorageReader:
    """Raw storages of a zip or legacy checkpoint, read on demand with their sizes checked."""

    def __init__(self, path, archive=None, prefix="", legacy_file=None, legacy_offsets=None):
        self.path, self.archive, self.prefix = path, archive, prefix
        self.file, self.offsets = legacy_file, legacy_offsets
        self.cache = {}

    def read(self, storage):
        """The storage as a flat array of exactly ``storage.numel`` elements."""
        if storage.key in self.cache:
            return self.cache[storage.key]
        nbytes = storage.numel * storage.dtype.itemsize
        if self.archive is not None:
            name = f"{self.prefix}data/{storage.key}"
            try:
                size = self.archive.getinfo(name).file_size
            except KeyError:
                raise CheckpointError(f"{self.path}: entry {name!r} is missing from the archive") from None
            if size != nbytes:
                raise CheckpointError(f"{self.path}: entry {name!r} holds {size} bytes, but its "
                                      f"{storage.numel} {storage.dtype} elements need {nbytes}")
            try:
                with self.archive.open(name) as f:
                    data = f.read(nbytes)  # the size is checked: never more than the entry declares
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise CheckpointError(f"{self.path}: entry {name!r} is corrupt ({e})") from None
        else:
            if storage.key not in self.offsets:
                raise CheckpointError(f"{self.path}: storage {storage.key!r} is missing from the file")
            start, numel = self.offsets[storage.key]
            if numel != storage.numel:
                raise CheckpointError(f"{self.path}: storage {storage.key!r} holds {numel} elements, "
                                      f"but the pickle says {storage.numel}")
            self.file.seek(start)
            data = self.file.read(nbytes)
        if len(data) != nbytes:
            raise CheckpointError(f"{self.path}: storage {storage.key!r} is truncated ({len(data)} of {nbytes} bytes)")
        self.cache[storage.key] = flat = np.frombuffer(data, storage.dtype.newbyteorder("<"))
        return flat

    def tensor(self, ref, key):
        """The checked tensor ``ref`` as a new native-order numpy array."""
        _check_layout(ref, self.path, key)
        flat = self.read(ref.storage)
        if 0 in ref.size:
            return np.zeros(ref.size, flat.dtype.newbyteorder("="))
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=ref.size,
                                               strides=[s * itemsize for s in ref.stride], writeable=False)
        return view.astype(flat.dtype.newbyteorder("="), copy=True)


def _materialize(obj, reader, key="", depth=0):
    """Replace every _TensorRef in nested containers by its checked array."""
    if depth > 100:
        raise CheckpointError(f"{reader.path}: containers nested deeper than 100 levels")
    if isinstance(obj, _TensorRef):
        return reader.tensor(obj, key or "<root>")
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v, reader, f"{key}.{k}" if key else str(k), depth + 1))
                         for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, reader, f"{key}[{i}]", depth + 1) for i, v in enumerate(obj))
    if isinstance(obj, _Storage):
        raise CheckpointError(f"{reader.path}: entry {key!r} is a bare storage, not a tensor")
    return obj


def _legacy_header(f, path):
    """Check magic number, protocol and byte order of a legacy file; leaves ``f`` at the object pickle."""
    def plain():
        # These three pickles hold only numbers and dicts: no globals are admitted.
        return unpickle(f, path, allowed={})

    try:
        magic = plain()
    except UnsafeCheckpointError:
        raise
    except CheckpointError:
        magic = None
    if magic != _LEGACY_MAGIC:
        raise CheckpointError(f"{path}: not a zip-format or legacy PyTorch checkpoint (no torch magic number)")
    version, sys_info = plain(), plain()
    if version != 1001:
        raise CheckpointError(f"{path}: legacy PyTorch checkpoint of unsupported protocol {version!r:.20}")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CheckpointError(f"{path}: big-endian or malformed legacy checkpoint (sys_info {sys_info!r:.80})")


def _legacy_offsets(f, path, keys, storages):
    """{key: (byte offset of its data, numel)}: walks the storages after the pickles, reading only
    each one's int64 element count and never seeking past the end of the file."""
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise CheckpointError(f"{path}: the storage key list is malformed")
    end = os.fstat(f.fileno()).st_size
    offsets = {}
    for key in keys:
        if key not in storages:
            raise CheckpointError(f"{path}: storage {key!r} is listed but no tensor refers to it")
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointError(f"{path}: storage {key!r} is missing (the file ends early)")
        (numel,) = struct.unpack("<q", head)
        start = f.tell()
        if numel < 0 or start + numel * storages[key].dtype.itemsize > end:
            raise CheckpointError(f"{path}: storage {key!r} is truncated (the file ends inside its data)")
        offsets[key] = (start, numel)
        f.seek(start + numel * storages[key].dtype.itemsize)
    return offsets


def load_torch_file(path, select=None):
    """Read a ``torch.save`` file (zip or legacy format) without torch, running nothing in it.

    Args:
        path: the file.
        select: optional function applied to the unpickled object before tensors are read (e.g.
            ``lambda obj: obj["model_state"]``), so the rest (an optimizer state) is never read.
    Returns the (selected) object with every tensor as a numpy array of its shape and dtype.
    Raises FileNotFoundError, or CheckpointError (one line naming the file and the entry or global).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise CheckpointError(f"{path}: corrupt zip archive ({e})") from None
        with archive:
            names = archive.namelist()
            pickles = [n for n in names if n.endswith("data.pkl")]
            if len(pickles) != 1:
                raise CheckpointError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
            prefix = pickles[0][: -len("data.pkl")]
            try:
                order = archive.read(f"{prefix}byteorder").strip() if f"{prefix}byteorder" in names else b"little"
                pkl = archive.read(pickles[0])
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
                raise CheckpointError(f"{path}: entry {pickles[0]!r} is corrupt ({e})") from None
            if order != b"little":
                raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
            obj = unpickle(io.BytesIO(pkl), path, unpickler=_TorchUnpickler)
            obj = select(obj) if select is not None else obj
            return _materialize(obj, _StorageReader(path, archive=archive, prefix=prefix))
    with open(path, "rb") as f:
        _legacy_header(f, path)
        storages = {}
        obj = unpickle(f, path, unpickler=_TorchUnpickler, storages=storages)
        keys = unpickle(f, path, allowed={})
        reader = _StorageReader(path, legacy_file=f, legacy_offsets=_legacy_offsets(f, path, keys, storages))
        obj = select(obj) if select is not None else obj
        return _materialize(obj, reader)


def load_torch_state_dict(path):
    """Read a ``torch.save``'d state dict into ``{name: np.ndarray}`` without importing torch.

    A dict holding the state dict under ``state_dict`` is unwrapped. Raises CheckpointError for
    files that are not PyTorch checkpoints of a dict of tensors.
    """
    def pick(obj):
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise CheckpointError(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
        for key, value in obj.items():
            if not isinstance(value, _TensorRef):
                raise CheckpointError(f"{path}: entry {key!r} is not a tensor")
        return obj

    return collections.OrderedDict(load_torch_file(path, select=pick))


def detect_backbone(keys):
    """Backbone name from state-dict keys: mobilenetv2, resnet50 or resnet101."""
    keys = set(keys)
    if any(k.startswith("backbone.features.") for k in keys):
        return "mobilenetv2"
    if any(k.startswith("backbone.layer3.") for k in keys):
        return "resnet101" if "backbone.layer3.22.conv1.weight" in keys else "resnet50"
    raise CheckpointError("cannot detect the backbone: the checkpoint has neither backbone.features.* "
                          "(MobileNetV2) nor backbone.layer3.* (ResNet) keys")


def rename_key(key):
    """Our name for a torch state-dict key, or None for keys Paddle has no place for."""
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
        name = rename_key(key)
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
    """Convert an official ``.pth`` into a ``.pdparams`` loadable by ``net.set_state_dict(load_paddle_file(...))``.

    Writes atomically (temporary file + rename). Returns the info dict of ``convert_state_dict``.
    """
    import paddle

    converted, info = convert_state_dict(load_torch_state_dict(input_path), backbone)
    with atomic_path(output_path) as tmp:
        paddle.save({k: paddle.to_tensor(v) for k, v in converted.items()}, tmp)
    return info
