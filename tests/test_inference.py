"""inference (export, engines): exported programs through ONNX Runtime and Paddle Inference agree with dygraph; the export cache."""
import json
import os

import numpy as np
import onnxruntime
import paddle
import pytest

from inference.engines import InferenceEngine, load_engine, load_exported, resolve_engine
from inference.export import ExportError, cache_folder, cached_export, export_folder, export_model
from model import CheckpointError, MattingBase, MattingRefine, ModelOptions
from inference.onnx_engine import OnnxRuntimeEngine, cached_onnx, export_onnx

TOLERANCE = 1e-4  # the parity tolerance of the project (measured differences are ~1e-6)



def random_pair(batch=2, height=128, width=160, seed=0):
    """A batch of distinct sources with backgrounds that differ from them in a few regions."""
    rng = np.random.default_rng(seed)
    src = rng.random((batch, 3, height, width), dtype=np.float32)
    bgr = src.copy()
    bgr[:, :, height // 4: height // 2, width // 3: width // 2] = rng.random((batch, 3, height // 4,
                                                                             width // 2 - width // 3))
    bgr = np.clip(bgr + rng.normal(0, 0.05, bgr.shape), 0, 1).astype(np.float32)
    return src, bgr


def assert_outputs_close(a, b, names):
    assert sorted(a) == sorted(b) == sorted(names)
    for name in names:
        assert a[name].shape == b[name].shape, name
        np.testing.assert_allclose(a[name], b[name], atol=TOLERANCE, rtol=0, err_msg=name)


@pytest.mark.parametrize("engine", ["onnxruntime", "inference"])
@pytest.mark.parametrize("mode,extra", [("full", {}), ("thresholding", {"refine_threshold": 0.05}),
                                        # k = 60 patches of 40 x 32 locations, without ties in err
                                        ("sampling", {"refine_sample_pixels": 960})])
def test_exported_matches_dygraph(checkpoint, engine, mode, extra):
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode=mode, **extra)
    exported = load_engine(checkpoint, options, engine=engine)
    eager = load_engine(checkpoint, options, engine="dygraph")
    src, bgr = random_pair()
    a, b = exported(src, bgr), eager(src, bgr)
    assert_outputs_close(a, b, options.outputs)
    refined = b["ref_sm"].sum(axis=(1, 2, 3))
    if mode == "full":
        assert (refined == 40 * 32).all()
    else:  # patches were selected, but not all of them: the refiner's selection path ran
        assert ((refined > 0) & (refined < 40 * 32)).all(), refined
    if mode == "sampling":
        assert (refined <= 60).all()


@pytest.mark.parametrize("engine,settings", [("onnxruntime", {}), ("inference", {"onednn": True}),
                                             ("inference", {"onednn": False})])
def test_thresholding_with_no_patch_above_threshold(checkpoint, engine, settings):
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="thresholding", refine_threshold=1.0)
    src, bgr = random_pair(batch=1)
    a = load_engine(checkpoint, options, engine=engine, **settings)(src, bgr)
    b = load_engine(checkpoint, options, engine="dygraph")(src, bgr)
    assert a["ref_sm"].sum() == 0
    assert_outputs_close(a, b, options.outputs)


def test_base_model_exports(tmp_path):
    path = str(tmp_path / "base.pdparams")
    paddle.seed(1)
    paddle.save(MattingBase("mobilenetv2").state_dict(), path)
    options = ModelOptions.for_checkpoint(path)
    assert (options.model_type, options.backbone) == ("mattingbase", "mobilenetv2")
    src, bgr = random_pair(batch=1, height=64, width=96)
    assert_outputs_close(load_engine(path)(src, bgr), load_engine(path, engine="dygraph")(src, bgr),
                         ("pha", "fgr", "err", "hid"))


def test_cache_is_reused_and_keyed(checkpoint, tmp_path):
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="full")
    first = cached_export(checkpoint, options)
    assert first.startswith(cache_folder(checkpoint))
    assert os.path.dirname(cache_folder(checkpoint)) == os.path.dirname(checkpoint)
    stamp = os.stat(os.path.join(first, "model.pdiparams")).st_mtime_ns
    assert cached_export(checkpoint, options) == first
    assert os.stat(os.path.join(first, "model.pdiparams")).st_mtime_ns == stamp  # not exported again
    # Other options, other weights: other programs.
    assert export_folder(checkpoint, ModelOptions.for_checkpoint(checkpoint, refine_mode="sampling")) != \
        export_folder(checkpoint, options)
    other = tmp_path / "other.pdparams"
    paddle.seed(5)
    paddle.save(MattingRefine("mobilenetv2").state_dict(), str(other))
    assert export_folder(str(other), options) != export_folder(checkpoint, options)
    with open(os.path.join(first, "meta.json")) as f:
        meta = json.load(f)
    assert meta["options"] == options.to_dict() and meta["paddle"] == paddle.__version__


def test_incomplete_cache_entry_is_not_loaded(checkpoint, tmp_path):
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="full", backbone_scale=0.125)
    folder = export_folder(checkpoint, options, cache_dir=str(tmp_path))
    os.makedirs(folder)
    with open(os.path.join(folder, "model.json"), "w") as f:
        f.write("{truncated")  # a crash in the middle of a (non-atomic) write
    assert cached_export(checkpoint, options, cache_dir=str(tmp_path)) == folder
    engine = InferenceEngine(folder)
    src, bgr = random_pair(batch=1)
    assert engine(src, bgr)["pha"].shape == (1, 1, 128, 160)
    assert not [n for n in os.listdir(os.path.dirname(folder)) if n.startswith(".tmp")]


def test_checkpoint_of_another_backbone_is_a_clear_error(checkpoint):
    with pytest.raises(CheckpointError, match="resnet50"):
        load_engine(checkpoint, ModelOptions(backbone="resnet50", refine_mode="full"))


def test_export_folder_is_atomic_and_not_overwritten(checkpoint, tmp_path):
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="full")
    net = options.build()
    out = export_model(net, options, tmp_path / "exported")
    assert sorted(os.listdir(out)) == ["meta.json", "model.json", "model.pdiparams"]
    with pytest.raises(FileExistsError, match="exported"):
        export_model(net, options, tmp_path / "exported")
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp")] == []


def test_bad_export_folders_and_inputs(checkpoint, tmp_path):
    with pytest.raises(ExportError, match="not found"):
        load_exported(tmp_path / "missing")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "model.json").write_text("{}")
    with pytest.raises(ExportError, match="missing model.pdiparams, meta.json"):
        load_exported(tmp_path / "partial")
    engine = load_engine(checkpoint, ModelOptions.for_checkpoint(checkpoint, refine_mode="full"))
    src, bgr = random_pair(batch=1)
    with pytest.raises(ValueError, match="divisible by 4"):
        engine(src[:, :, :126], bgr[:, :, :126])
    with pytest.raises(ValueError, match="same shape"):
        engine(src, bgr[:, :, :124])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        engine(src[0], bgr[0])
    with pytest.raises(ValueError, match="engine must be one of"):
        load_engine(checkpoint, engine="onnx")
    with pytest.raises(ValueError, match="device must be"):
        load_engine(checkpoint, engine="dygraph", device="tpu")
    if not paddle.is_compiled_with_cuda():
        with pytest.raises(ValueError, match="needs a CUDA build"):
            load_engine(checkpoint, engine="inference", device="gpu")
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            with pytest.raises(ValueError, match="needs the onnxruntime-gpu package .* or a CUDA build of Paddle"):
                load_engine(checkpoint, device="gpu")  # auto: ONNX Runtime's CUDA provider with this Paddle
    with pytest.raises(ValueError, match="precision fp16 needs device='gpu'"):
        load_engine(checkpoint, engine="onnxruntime", precision="fp16")
    with pytest.raises(ValueError, match="tensorrt: option"):
        load_engine(checkpoint, engine="onnxruntime", tensorrt=True)
    with pytest.raises(ValueError, match="onednn: option"):
        load_exported(cached_export(checkpoint, ModelOptions.for_checkpoint(checkpoint)), onednn=False)


def test_auto_engine_is_onnxruntime_on_cpu_and_converts_once(checkpoint):
    assert resolve_engine("auto", "cpu") == "onnxruntime"
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="full", backbone_scale=0.5)
    engine = load_engine(checkpoint, options)
    assert isinstance(engine, OnnxRuntimeEngine)
    folder = cached_export(checkpoint, options)
    converted = [n for n in os.listdir(folder) if n.endswith(".onnx")]
    assert converted == [os.path.basename(cached_onnx(folder))]
    stamp = os.stat(os.path.join(folder, converted[0])).st_mtime_ns
    load_engine(checkpoint, options)
    assert os.stat(os.path.join(folder, converted[0])).st_mtime_ns == stamp  # not converted again
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp")]


def test_float16_model_keeps_coordinates_float32(checkpoint):
    """The fp16 model of the CUDA provider: convolutions read fp16, but the patch coordinates stay
    float32 (in fp16 a position above 1024 px loses its half pixel), as do inputs and outputs."""
    import onnx
    from onnx import TensorProto, shape_inference

    from inference.onnx_engine import cached_float16
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="sampling", refine_sample_pixels=4000)
    path = cached_onnx(cached_export(checkpoint, options))
    half_path = cached_float16(path)
    stamp = os.stat(half_path).st_mtime_ns
    assert half_path.endswith(".fp16.onnx") and cached_float16(path) == half_path
    assert os.stat(half_path).st_mtime_ns == stamp  # converted once
    model = onnx.load(half_path)
    types = {v.name: v.type.tensor_type.elem_type for v in shape_inference.infer_shapes(model).graph.value_info}
    assert {v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)} == {TensorProto.FLOAT}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    floors = [n for n in model.graph.node if n.op_type == "Floor"]  # positions and patch rows (floor division)
    assert convs and {types.get(n.input[0]) for n in convs} == {TensorProto.FLOAT16}
    assert floors and TensorProto.FLOAT16 not in {types.get(n.input[0]) for n in floors}  # float32 or float64
    # The refined patches of a 2176 px wide frame sit at half-resolution columns above 1024.
    src, bgr = random_pair(batch=1, height=64, width=2176)
    full, half = (dict(zip(options.outputs, onnxruntime.InferenceSession(p, providers=["CPUExecutionProvider"])
                           .run(list(options.outputs), {"src": src, "bgr": bgr}))) for p in (path, half_path))
    for name in ("pha_sm", "fgr_sm", "err_sm"):
        np.testing.assert_allclose(half[name], full[name], atol=0.02, err_msg=name)
    assert np.abs(half["pha"] - full["pha"]).mean() < 0.01
    with pytest.raises(ValueError, match="precision fp16 needs device='gpu'"):
        OnnxRuntimeEngine(cached_export(checkpoint, options), precision="fp16")


def test_conv_channel_padding_keeps_outputs(checkpoint, tmp_path):
    import onnx
    import onnxruntime
    from onnx import numpy_helper
    options = ModelOptions.for_checkpoint(checkpoint, refine_mode="sampling", refine_sample_pixels=960)
    folder = cached_export(checkpoint, options)
    plain, padded = str(tmp_path / "plain.onnx"), str(tmp_path / "padded.onnx")
    export_onnx(folder, plain, block=1)  # every channel count is a multiple of 1: nothing padded
    export_onnx(folder, padded, block=8)

    def conv_channels(path):  # input channels of each Conv's weight (an initializer or a Constant)
        model = onnx.load(path)
        values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        values.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
                       if n.op_type == "Constant" and n.attribute[0].name == "value"})
        return {n.name: values[n.input[1]].shape[1] for n in model.graph.node
                if n.op_type == "Conv" and n.input[1] in values}

    before, after = conv_channels(plain), conv_channels(padded)
    # the decoder's last conv and the refiner's first read a channel concat; others are left alone
    assert sorted((before[n], after[n]) for n in before if before[n] != after[n]) == [(42, 48), (54, 56)]
    src, bgr = random_pair()
    results = [dict(zip(options.outputs, onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
                        .run(list(options.outputs), {"src": src, "bgr": bgr}))) for path in (plain, padded)]
    assert_outputs_close(*results, options.outputs)


def test_warm_cache_does_not_read_the_checkpoint(checkpoint, monkeypatch):
    """Backbone and model type come from the cache's description of the file: no deserialisation."""
    import inference.export as export

    first = cached_export(checkpoint, refine_mode="full", backbone_scale=0.5)
    reads = []
    monkeypatch.setattr(export, "read_state_dict", lambda path: reads.append(path))
    assert cached_export(checkpoint, refine_mode="full", backbone_scale=0.5) == first
    engine = load_engine(checkpoint, overrides={"refine_mode": "full", "backbone_scale": 0.5})
    assert engine.options.backbone == "mobilenetv2" and engine.options.refine_mode == "full"
    assert reads == []
