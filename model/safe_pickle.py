"""Read pickled checkpoints without running code from them.

``pickle`` executes whatever callable a file names (``os.system``, ``eval``, ...), so
``paddle.load`` and ``torch.load(weights_only=False)`` run code from any checkpoint they open.
:class:`RestrictedUnpickler` resolves a global only when it is on an allow-list of harmless
constructors (numpy arrays, dtypes and scalars, ``OrderedDict``, ``tuple``); for anything else it
raises :class:`CheckpointError` naming the file and the global, before calling anything.

:func:`load_paddle_file` reads what ``paddle.save`` writes (state dicts of models and optimizers,
and plain dicts of numbers), pickle protocols 2-4, from Paddle 2.0 to 3.x. An inventory of the
globals those files use (Paddle 3.3, numpy 2; see tests/test_weights_safety.py):

* arrays: ``numpy._core.multiarray._reconstruct`` (numpy 1.x: ``numpy.core.multiarray``),
  ``numpy.ndarray``, ``numpy.dtype``; protocol 2 adds ``_codecs.encode`` for the raw bytes;
* a Tensor outside a flat state dict (e.g. in nested dicts, lists): ``builtins.tuple`` (protocol 2:
  ``__builtin__.tuple``) around ``(name, array)``;
* numpy scalars: ``numpy._core.multiarray.scalar``.
"""
import collections
import os
import pickle

import numpy as np

from common.errors import InputError

__all__ = ["CheckpointError", "UnsafeCheckpointError", "RestrictedUnpickler", "NUMPY_GLOBALS", "load_paddle_file", "check_array"]


class CheckpointError(InputError):
    """A checkpoint that cannot be read (corrupt, foreign or unsafe) or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that would call something other than a tensor, number or container constructor."""


# Kinds a weight or optimizer value can have: bool, signed/unsigned int, float, complex.
_NUMERIC_KINDS = "biufc"


def _numeric_dtype(spec, align=False, copy=False):
    """``numpy.dtype(spec)`` for numeric dtypes only (no object, structured or void dtypes).

    Always a copy: the pickle's BUILD step would otherwise act on numpy's shared dtype singletons.
    """
    if not isinstance(spec, str):
        raise CheckpointError(f"dtype {spec!r:.40} is not a numeric dtype name")
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"dtype {spec!r:.40} is not numeric")
    return np.dtype(spec, copy=True)


def _is_numeric(dtype):
    return isinstance(dtype, np.dtype) and dtype.kind in _NUMERIC_KINDS and dtype.fields is None \
        and dtype.subdtype is None


def _build_dtype(dtype, state):
    """The BUILD step of a pickled dtype: only its byte order may change (no fields, no subarray)."""
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in ("<", ">", "|", "=")
            and state[2] is None and state[3] is None and state[4] is None):
        raise CheckpointError(f"dtype state {state!r:.60} is not that of a plain numeric dtype")
    return dtype.newbyteorder(state[1]) if state[1] in "<>" else dtype


def _build_array(array, state):
    """The BUILD step of a pickled ndarray, after checking dtype, shape and data length agree."""
    if not (isinstance(state, tuple) and len(state) == 5):
        raise CheckpointError(f"array state {type(state).__name__} is not numpy's (version, shape, dtype, "
                              "fortran, data)")
    _, shape, dtype, _, data = state
    if not _is_numeric(dtype):
        raise CheckpointError(f"array of dtype {dtype!r:.40} is not numeric")
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise CheckpointError(f"array shape {shape!r:.60} is not a tuple of sizes")
    if isinstance(data, str):
        data = data.encode("latin1")  # Python 2 era pickles (paddle.load reads them as latin1 too)
    if not isinstance(data, (bytes, bytearray)) or len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
        raise CheckpointError(f"array data of {len(data) if isinstance(data, (bytes, bytearray)) else '?'} bytes "
                              f"does not fit shape {shape} of {dtype}")
    array.__setstate__((state[0], shape, dtype, state[3], bytes(data)))
    return array


# `numpy.ndarray` resolves to this marker, not to the class: a pickle only needs it as the argument
# of _reconstruct, and so it cannot call ndarray(shape, dtype, buffer, offset, strides) itself.
_NDARRAY = object()


def _reconstruct(subtype, shape, dtype_code):
    """numpy's array-unpickling entry point, for plain ndarrays only; the data comes in a later BUILD."""
    if subtype is not _NDARRAY:
        raise CheckpointError(f"array subtype {subtype!r:.40} is not numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, (0,), np.uint8)


def _scalar(dtype, data=None):
    """numpy scalar from its dtype and raw bytes (what ``np.float64(0.7)`` pickles to)."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise CheckpointError(f"numpy scalar of dtype {dtype!r:.40} is not numeric")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise CheckpointError(f"numpy {dtype} scalar needs {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype, count=1)[0]


def _encode(text, encoding="latin1"):
    """``_codecs.encode(str, 'latin1')``: how protocol 2 spells a bytes object."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"_codecs.encode with encoding {encoding!r:.20}")
    return text.encode("latin1")


# Module names differ between numpy 1.x (numpy.core) and 2.x (numpy._core); files from either load.
NUMPY_GLOBALS = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _numeric_dtype,
    ("_codecs", "encode"): _encode,
    **{(f"numpy.{core}.multiarray", name): fn for core in ("core", "_core")
       for name, fn in (("_reconstruct", _reconstruct), ("scalar", _scalar))},
}

_CONTAINER_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "tuple"): tuple, ("__builtin__", "tuple"): tuple,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
}


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only the globals in ``allowed`` ({(module, name): callable}).

    Every other global (the only way a pickle reaches code: GLOBAL, STACK_GLOBAL, INST and EXT
    opcodes all go through ``find_class``) raises CheckpointError before anything is called.
    Persistent ids are refused unless a subclass overrides ``persistent_load``. The BUILD opcode
    (``obj.__setstate__(state)``) is admitted only for numpy arrays and dtypes, with checked state:
    this is Python's own unpickler with that one opcode replaced, so it is the pure-Python one.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.dtype or isinstance(inst, np.dtype):
            self.stack[-1] = _build_dtype(inst, state)
        elif type(inst) is np.ndarray:
            _build_array(inst, state)
        elif type(inst) is collections.OrderedDict and isinstance(state, dict):
            pass  # torch's state_dict() carries a `_metadata` attribute (module versions): not needed
        else:
            raise UnsafeCheckpointError(f"{self.path}: refusing to load: it sets the state of a {type(inst).__name__}")

    dispatch[pickle.BUILD[0]] = _load_build

    def __init__(self, file, path, allowed=None):
        super().__init__(file, encoding="latin1")  # latin1: Python 2 era numpy pickles, as paddle.load
        self.path = path
        self.allowed = {**NUMPY_GLOBALS, **_CONTAINER_GLOBALS} if allowed is None else allowed

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return self.allowed[module, name]
        raise UnsafeCheckpointError(f"{self.path}: refusing to load: it calls {module}.{name} (not a tensor, number or "
                              "container); only load checkpoints you trust, and convert them with their own tools")

    def persistent_load(self, pid):
        raise UnsafeCheckpointError(f"{self.path}: refusing to load: unexpected persistent reference {pid!r:.60}")


def unpickle(file, path, unpickler=RestrictedUnpickler, **kwargs):
    """One object from ``file`` through ``unpickler``; every failure is a one-line CheckpointError."""
    try:
        return unpickler(file, path, **kwargs).load()
    except CheckpointError as e:
        if str(e).startswith(str(path)):
            raise
        raise type(e)(f"{path}: {e}") from None
    except Exception as e:  # truncated or garbled data: only pickle's own machinery and our checks ran

        raise CheckpointError(f"{path}: not a readable pickle ({type(e).__name__}: {str(e)[:120]})") from None


def check_array(value, path, key):
    """Raise unless ``value`` is an ndarray of a numeric dtype (what a weight can be)."""
    if value.dtype.kind not in _NUMERIC_KINDS or value.dtype.fields is not None:
        raise CheckpointError(f"{path}: entry {key!r} has non-numeric dtype {value.dtype}")


def _is_varbase(obj):
    # Paddle 2.1+ pickles a Tensor outside flat state dicts as (tensor.name, array).
    return type(obj) is tuple and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray)


def _walk(obj, fn, key="", depth=0):
    """Apply ``fn(value, key, was_tensor)`` to every leaf of nested dicts/lists/tuples (a (name, array)
    pair is one leaf, with was_tensor True); rebuilds the containers."""
    if depth > 100:
        raise CheckpointError("containers nested deeper than 100 levels")
    if isinstance(obj, dict):
        return type(obj)((k, _walk(v, fn, f"{key}.{k}" if key else str(k), depth + 1)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_walk(v, fn, f"{key}[{i}]", depth + 1) for i, v in enumerate(obj)]
    if _is_varbase(obj):
        return fn(obj[1], key, True)
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn, f"{key}[{i}]", depth + 1) for i, v in enumerate(obj))
    return fn(obj, key, False)


def _has_varbase(obj, depth=0):
    if _is_varbase(obj):
        return True
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    return depth < 100 and any(_has_varbase(v, depth + 1) for v in values)


def _join_big_params(obj, path):
    """Undo paddle.save's split of tensors over 1 GiB (protocols 2/3): ``UnpackBigParamInfor@@``
    = {key: {"OriginShape": shape, "slices": [part keys]}}; as paddle's ``_pack_loaded_dict``."""
    info = obj.pop("UnpackBigParamInfor@@", None)  # typos: disable-line (Paddle's spelling)
    if info is None:
        return obj
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: entry 'UnpackBigParamInfor@@' is not a dict")
    for key, value in info.items():
        try:
            parts = [obj.pop(part) for part in value["slices"]]
            shape = tuple(int(n) for n in value["OriginShape"])
            if not all(isinstance(p, np.ndarray) and p.ndim == 1 for p in parts) or min(shape, default=0) < 0:
                raise ValueError("slices are not flat arrays")
            obj[key] = np.concatenate(parts).reshape(shape)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: split tensor {key!r} cannot be joined ({e})") from None
    return obj


def load_paddle_file(path, return_numpy=False):
    """What ``paddle.load(path)`` returns for a file written by ``paddle.save``, without running code.

    Reads model state dicts (.pdparams), optimizer states (.pdopt: accumulators keyed by name,
    ``LR_Scheduler`` and ``master_weights`` dicts), and pickled dicts/lists of numbers, strings
    and tensors (.pdstate), any pickle protocol paddle.save writes (2-4); tensors split by
    paddle.save into ``name@@.i`` parts are joined. The ``StructuredToParameterName@@`` table is
    dropped as paddle.load does by default.

    Args:
        path: file to read.
        return_numpy: True gives tensors as numpy arrays (any shape, their saved dtype; bfloat16 comes
            back as uint16, as paddle.save stores it); False (default) gives paddle Tensors, like paddle.load.
    Returns the saved object. Raises FileNotFoundError, or CheckpointError (one line naming the
    file and, when the file holds code, the refused global) for unsafe, corrupt or foreign files.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as f:
        obj = unpickle(f, path)
        if f.read(1):
            raise CheckpointError(f"{path}: trailing data after the pickle (not a paddle.save file?)")
    # Which arrays paddle.load turns into Tensors: those named in the state dict's name table; else,
    # in a pickled object, the (name, array) pairs if there are any, otherwise every array.
    tensors = None
    if isinstance(obj, dict):
        obj = _join_big_params(obj, path)
        table = obj.pop("StructuredToParameterName@@", None)
        if table is not None:
            tensors = set(table) if isinstance(table, dict) else set()
    only_pairs = tensors is None and _has_varbase(obj)

    def leaf(value, key, was_tensor):
        if not isinstance(value, np.ndarray):
            return value
        check_array(value, path, key)
        if return_numpy:
            return value
        if tensors is not None and key not in tensors or only_pairs and not was_tensor:
            return value
        import paddle  # deferred: reading needs only numpy

        return paddle.to_tensor(value)

    return _walk(obj, leaf)
