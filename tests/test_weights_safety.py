"""Checkpoint files are read without running code in them, without reading outside their data,
and corrupt ones fail with one line naming the file and the entry (issue #17, items 1-3)."""
import collections
import os
import pickle
import re
import struct
import zipfile

import numpy as np
import paddle
import pytest

from model import MattingRefine
from model.loading import load_checkpoint, read_state_dict
from model.safe_pickle import CheckpointError, UnsafeCheckpointError, load_paddle_file
from model.torch_weights import load_torch_file, load_torch_state_dict
from training.checkpoint import CheckpointManager, load_optimizer_state, optimizer_state

torch = pytest.importorskip("torch")
TSV = "/work/shared/seed_repro_checkpoint_keys.tsv"


# ---------------------------------------------------------------- hand-made files


class _Exploit:
    """Pickles as ``os.system("touch <marker>")`` (module ``posix`` on Linux): runs on unpickling."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


_SYSTEM = f"{os.system.__module__}.system"  # how pickle names os.system here ("posix.system")


class _StorageRef:
    """Stands for a torch storage in a hand-made .pth: pickled as a persistent id."""

    def __init__(self, key, array):
        self.key, self.array = key, np.ascontiguousarray(array, np.float32)


class _Tensor:
    """Pickles as torch's ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` with any layout."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


def _storages(obj, found):
    if isinstance(obj, _Tensor):
        found[obj.args[0].key] = obj.args[0]
    elif isinstance(obj, dict):
        for v in obj.values():
            _storages(v, found)
    return found


def _write_pth(path, obj, legacy=False):
    """Write ``obj`` (with _Tensor leaves) as torch.save does, zip or legacy format; returns ``path``."""
    storages = _storages(obj, {})

    def persistent_id(value):
        if isinstance(value, _StorageRef):
            pid = ("storage", torch.FloatStorage, value.key, "cpu", value.array.size)
            return pid + (None,) if legacy else pid
        return None

    with open(path, "wb") as f:
        if legacy:
            for header in (0x1950A86A20F9469CFC6C, 1001,
                           {"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}):
                pickle.dump(header, f, protocol=2)
            pickler = pickle.Pickler(f, protocol=2)
            pickler.persistent_id = persistent_id
            pickler.dump(obj)
            pickle.dump(sorted(storages), f, protocol=2)
            for key in sorted(storages):
                f.write(struct.pack("<q", storages[key].array.size) + storages[key].array.tobytes())
            return str(path)
    import io

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, storage in storages.items():
            archive.writestr(f"archive/data/{key}", storage.array.tobytes())
    return str(path)


def _assert_refused(call, path, marker, global_name):
    with pytest.raises(UnsafeCheckpointError) as err:
        call(str(path))
    message = str(err.value)
    assert not marker.exists(), "the payload ran"
    assert "\n" not in message and str(path) in message and global_name in message, message


# ---------------------------------------------------------------- item 1: code in pickles


def test_the_payload_does_run_under_plain_pickle(tmp_path):
    """Control: the payload of the tests below really executes when unpickled naively."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps({"w": _Exploit(marker)}, protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("ext", ["pdparams", "pdopt", "pdstate"])
@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_code_in_paddle_files_is_refused_not_run(ext, protocol, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / f"M.{ext}"
    # A real-looking state dict with the payload as one value, as paddle.save would pickle it.
    state = {"conv.weight": np.ones((2, 2), np.float32), "LR_Scheduler": {"last_epoch": 3},
             "evil": _Exploit(marker)}
    path.write_bytes(pickle.dumps(state, protocol=protocol))
    _assert_refused(load_paddle_file, path, marker, _SYSTEM)
    if ext == "pdparams":
        _assert_refused(read_state_dict, path, marker, _SYSTEM)
        _assert_refused(lambda p: load_checkpoint(MattingRefine("mobilenetv2"), p, strict=False), path, marker,
                        _SYSTEM)


def test_eval_and_attribute_tricks_are_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "E.pdparams"
    # GLOBAL builtins.eval, as paddle.save itself writes for a static-graph DenseTensor: never admitted.
    path.write_bytes(b"cbuiltins\neval\n(V__import__('os').system('touch " + str(marker).encode() + b"')\ntR.")
    _assert_refused(load_paddle_file, path, marker, "builtins.eval")
    # BUILD (obj.__setstate__ / attribute updates) on anything but arrays and dtypes: refused.
    path.write_bytes(b"c__builtin__\nset\n(]tR}b.")
    with pytest.raises(UnsafeCheckpointError, match="E.pdparams: refusing to load: it sets the state of a set"):
        load_paddle_file(str(path))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_code_in_a_pth_is_refused_not_run(legacy, tmp_path):
    marker = tmp_path / "ran"
    storage = _StorageRef("0", np.zeros(4))
    path = _write_pth(tmp_path / "M.pth", {"w": _Tensor(storage, 0, (4,), (1,)), "x": _Exploit(marker)}, legacy)
    _assert_refused(load_torch_file, path, marker, _SYSTEM)
    _assert_refused(load_torch_state_dict, path, marker, _SYSTEM)
    _assert_refused(read_state_dict, path, marker, _SYSTEM)


def test_hand_made_pth_files_are_what_torch_writes(tmp_path):
    """Control for the helper: torch itself reads our hand-made zip and legacy files."""
    storage = _StorageRef("0", np.arange(6))
    for legacy in (False, True):
        path = _write_pth(tmp_path / f"ok{legacy}.pth", {"w": _Tensor(storage, 1, (2, 2), (1, 2))}, legacy)
        expected = torch.load(path, weights_only=False)["w"].numpy()
        np.testing.assert_array_equal(load_torch_file(path)["w"], expected)
        np.testing.assert_array_equal(expected, [[1, 3], [2, 4]])


# ---------------------------------------------------------------- item 1: what paddle.save writes still loads


def _tiny_training_state():
    paddle.seed(0)
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    sched = paddle.optimizer.lr.LinearWarmup(paddle.optimizer.lr.CosineAnnealingDecay(1.0, T_max=10), 3, 0.0, 1.0)
    opt = paddle.optimizer.Adam(learning_rate=sched, parameters=[{"params": net.parameters(), "learning_rate": .1}])
    for _ in range(2):
        net(paddle.randn([2, 3, 8, 8])).mean().backward()
        opt.step()
        opt.clear_grad()
        sched.step()
    return net, opt


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_paddle_save_files_load_as_paddle_load_does(protocol, tmp_path):
    net, opt = _tiny_training_state()
    objects = {"pdparams": net.state_dict(), "pdopt": optimizer_state(opt, net),
               "pdstate": {"step": 4, "seed": 1, "scaler": {"scale": np.array([1024.0], np.float32), "incr_count": 2},
                           "best_sad": float("inf"), "nested": {"t": paddle.ones([2])}, "list": [paddle.ones([3])]}}
    for ext, obj in objects.items():
        path = str(tmp_path / f"x.{ext}")
        paddle.save(obj, path, protocol=protocol)
        ours, theirs = load_paddle_file(path), paddle.load(path)
        flat_ours, flat_theirs = _flatten(ours), _flatten(theirs)
        assert flat_ours.keys() == flat_theirs.keys(), ext
        for key, value in flat_theirs.items():
            if isinstance(value, paddle.Tensor):
                assert isinstance(flat_ours[key], paddle.Tensor), key
                np.testing.assert_array_equal(flat_ours[key].numpy(), value.numpy(), err_msg=key)
            else:
                assert flat_ours[key] == value and type(flat_ours[key]) is type(value), key


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        return {k2: v2 for k, v in obj.items() for k2, v2 in _flatten(v, f"{prefix}{k}/").items()}
    if isinstance(obj, (list, tuple)):
        return {k2: v2 for i, v in enumerate(obj) for k2, v2 in _flatten(v, f"{prefix}{i}/").items()}
    return {prefix: obj}


def test_optimizer_resume_through_the_safe_reader(tmp_path):
    """The .pdopt path of CheckpointManager.load works with load_paddle_file in place of paddle.load."""
    net, opt = _tiny_training_state()
    manager = CheckpointManager(str(tmp_path))
    manager.save(2, net, opt, {"seed": 1, "scaler": {}, "best_sad": 0.5})
    restored = {}
    for reader in (paddle.load, load_paddle_file):
        net2, opt2 = _tiny_training_state()  # same shapes; then overwritten from the files
        net2.set_state_dict(reader(manager.path(2, "pdparams")))
        load_optimizer_state(opt2, net2, reader(manager.path(2, "pdopt")))
        assert reader(manager.path(2, "pdstate")) == {"seed": 1, "scaler": {}, "best_sad": 0.5, "step": 2}
        restored[reader] = {k: (v.numpy() if isinstance(v, paddle.Tensor) else v)
                            for k, v in _flatten(optimizer_state(opt2, net2)).items()}
        assert opt2._learning_rate.last_epoch == opt._learning_rate.last_epoch
    a, b = restored.values()
    assert a.keys() == b.keys() and len(a) > 10
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_split_big_tensors_are_joined(tmp_path):
    """paddle.save (protocol 2/3) splits tensors over 1 GiB into 'key@@.i' parts; rebuilt as paddle.load does."""
    full = np.arange(10, dtype=np.float32).reshape(2, 5)
    obj = {"w@@.0": full.ravel()[:6], "w@@.1": full.ravel()[6:], "b": np.ones(3, np.float32),
           "UnpackBigParamInfor@@": {"w": {"OriginShape": (2, 5), "slices": ["w@@.0", "w@@.1"]}},
           "StructuredToParameterName@@": {"w": "w_0", "b": "b_0"}}
    path = tmp_path / "big.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    ours = load_paddle_file(str(path), return_numpy=True)
    assert sorted(ours) == ["b", "w"]
    np.testing.assert_array_equal(ours["w"], full)
    np.testing.assert_array_equal(paddle.load(str(path))["w"].numpy(), full)
    obj["UnpackBigParamInfor@@"]["w"]["OriginShape"] = (3, 5)
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(CheckpointError, match=r"big.pdparams: split tensor 'w'"):
        load_paddle_file(str(path))


def _tsv_shapes(backbone):
    shapes = {}
    with open(TSV) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, key, shape = line.rstrip("\n").split("\t")
            if name == backbone:
                shapes[key] = tuple(int(n) for n in shape.split("x")) if shape else ()
    return shapes


@pytest.mark.skipif(not os.path.isfile(TSV), reason="needs /work/shared/seed_repro_checkpoint_keys.tsv")
@pytest.mark.parametrize("backbone", ["resnet50", "resnet101"])
def test_seed_project_checkpoints_keep_loading(backbone, tmp_path):
    """Our MattingRefine names its weights as the seed project's Paddle checkpoints did; files written
    by paddle.save (Paddle 3.x) load through the safe reader into a fresh model, every tensor equal."""
    paddle.seed(1)
    net = MattingRefine(backbone)
    state = net.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == _tsv_shapes(backbone)
    if backbone == "resnet101":
        return  # same code path as resnet50; saving 180 MB again would only cost time
    path = str(tmp_path / "stage2.pdparams")
    paddle.save(state, path)
    paddle.seed(2)
    fresh = MattingRefine(backbone)
    report = load_checkpoint(fresh, path, strict=True)
    assert report["loaded"] == len(state)
    for key, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key].numpy(), err_msg=key)


# ---------------------------------------------------------------- item 2: tensors outside their storage


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("offset,size,stride,why", [
    (0, (400_000_000,), (1,), "reaches element 399999999"),   # as_strided would read ~1.6 GB: SIGSEGV
    (10, (64,), (1,), "reaches element 73"),                  # 10 elements of heap after the data
    (0, (8, 8), (9, 1), "reaches element 70"),                # strides alone leave the storage
    (0, (4,), (-1,), "negative"),
    (-2, (4,), (1,), "negative"),
])
def test_tensors_outside_their_storage_are_rejected(legacy, offset, size, stride, why, tmp_path):
    storage = _StorageRef("0", np.zeros(64))
    path = _write_pth(tmp_path / "S.pth", {"w": _Tensor(storage, offset, size, stride)}, legacy)
    with pytest.raises(CheckpointError) as err:
        load_torch_state_dict(path)
    message = str(err.value)
    assert message.startswith(f"{path}: tensor 'w'") and why in message and "\n" not in message, message


# ---------------------------------------------------------------- item 3: corrupt files


@pytest.fixture
def small_pth(tmp_path):
    path = str(tmp_path / "C.pth")
    torch.save({"a": torch.arange(64, dtype=torch.float32), "b": torch.ones(3, 5)}, path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        infos = {i.filename: i for i in archive.infolist()}
    entry = next(n for n in names if re.search(r"/data/\d+$", n) and infos[n].file_size == 256)
    return path, entry, infos[entry]


def _rewrite(path, entry, data):
    with zipfile.ZipFile(path) as archive:
        items = [(n, archive.read(n)) for n in archive.namelist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in items:
            if name != entry:
                archive.writestr(name, content)
            elif data is not None:
                archive.writestr(name, data)


def _assert_names(path, entry, fragment):
    with pytest.raises(CheckpointError) as err:
        load_torch_state_dict(path)
    message = str(err.value)
    assert message.startswith(path) and repr(entry) in message and fragment in message and "\n" not in message, \
        message


def test_flipped_byte_is_named(small_pth):
    path, entry, info = small_pth
    data = bytearray(open(path, "rb").read())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 100] ^= 0x40  # inside the 256 data bytes
    open(path, "wb").write(bytes(data))
    _assert_names(path, entry, "corrupt")


def test_missing_entry_is_named(small_pth):
    path, entry, _ = small_pth
    _rewrite(path, entry, None)
    _assert_names(path, entry, "missing")


def test_short_entry_is_named(small_pth):
    path, entry, _ = small_pth
    _rewrite(path, entry, b"\0" * 255)  # not even a whole float32: numpy would say "multiple of element size"
    _assert_names(path, entry, "255 bytes")
    _rewrite(path, entry, b"\0" * 512)  # too long: the extra bytes are not read as data
    _assert_names(path, entry, "512 bytes")


def test_truncated_legacy_file_is_named(tmp_path):
    path = str(tmp_path / "L.pth")
    torch.save({"a": torch.arange(64, dtype=torch.float32)}, path, _use_new_zipfile_serialization=False)
    np.testing.assert_array_equal(load_torch_state_dict(path)["a"], np.arange(64))
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-4])
    with pytest.raises(CheckpointError, match=r"L\.pth: storage '\d+' is truncated"):
        load_torch_state_dict(path)
    open(path, "wb").write(b"garbage, not a checkpoint")
    with pytest.raises(CheckpointError, match=r"L\.pth: not a zip-format or legacy PyTorch checkpoint"):
        load_torch_state_dict(path)
