"""predict.py and inference.predictor: outputs, sizes, pairing, videos and every bad-input path."""
import os

import cv2
import numpy as np
import paddle
import pytest

from inference import predict_cli as predict
from dataset.io import read_alpha, read_image, write_image
from inference.engines import load_engine
from model import ModelOptions
from inference.predictor import (InputMismatchError, composite_over, composite_over_u8, composite_rgba, convert,
                                 predict_batch, predict_images, suggest_backbone_scale)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "dataset", "samples")



@pytest.fixture(scope="module")
def engine(checkpoint):
    return load_engine(checkpoint, ModelOptions.for_checkpoint(checkpoint, refine_mode="full"))


def scene(seed, height=62, width=78):
    """(src, bgr) float32 RGB: a textured background and a bright disc in front of it."""
    rng = np.random.default_rng(seed)
    bgr = cv2.GaussianBlur(rng.random((height, width, 3), dtype=np.float32), (0, 0), 2)
    src = bgr.copy()
    cv2.circle(src, (width // 2, height // 2), min(height, width) // 4, (0.9, 0.8, 0.7), -1)
    return src, bgr


def write_pair(folder, name, seed, **size):
    src, bgr = scene(seed, **size)
    write_image(os.path.join(folder, "src", name + ".png"), src)
    write_image(os.path.join(folder, "bgr", name + ".png"), bgr)
    return src, bgr


def run_cli(*args):
    return predict.main([str(a) for a in args] + ["--no-progress"])


def test_any_size_is_padded_and_cropped_back(engine):
    src, bgr = scene(0, 62, 78)
    out = predict_images(engine, src, bgr)
    assert out["pha"].shape == out["err"].shape == out["ref"].shape == (62, 78)
    assert out["fgr"].shape == (62, 78, 3)
    # The model sees the edge-replicated 64x80 input; the output is its top-left crop.
    padded = [np.pad(x, ((0, 2), (0, 2), (0, 0)), mode="edge")[None] for x in (src, bgr)]
    full = predict_batch(engine, *padded)
    np.testing.assert_array_equal(out["pha"], full["pha"][0, :62, :78])
    np.testing.assert_array_equal(out["fgr"], full["fgr"][0, :62, :78])
    assert out["pha"].min() >= 0 and out["pha"].max() <= 1


def test_batching_and_layers_give_the_same_mattes(engine, checkpoint):
    pairs = [scene(seed) for seed in range(3)] + [scene(9, 40, 44)]  # the last one has another size
    one = predict_images(engine, [p[0] for p in pairs], [p[1] for p in pairs], batch_size=1)
    three = predict_images(engine, [p[0] for p in pairs], [p[1] for p in pairs], batch_size=3)
    net = ModelOptions.for_checkpoint(checkpoint, refine_mode="full").build()
    net.set_state_dict(paddle.load(checkpoint))
    eager = predict_images(net, [p[0] for p in pairs], [p[1] for p in pairs])
    for a, b, c in zip(one, three, eager):
        np.testing.assert_allclose(a["pha"], b["pha"], atol=1e-5)
        np.testing.assert_allclose(a["pha"], c["pha"], atol=1e-4)
    assert one[3]["pha"].shape == (40, 44)
    with pytest.raises(InputMismatchError, match="size mismatch: src\\[0\\] is 78x62 but bgr\\[0\\] is 44x40"):
        predict_images(engine, pairs[0][0], pairs[3][1])


def test_composites():
    pha = np.array([[0.0, 0.5, 1.0]], np.float32)
    fgr = np.full((1, 3, 3), 0.8, np.float32)
    rgba = composite_rgba(pha, fgr)
    np.testing.assert_allclose(rgba[0, :, 3], pha[0])
    np.testing.assert_allclose(rgba[0, 0, :3], 0)  # no colour where alpha is 0
    np.testing.assert_allclose(composite_over(pha, fgr, (0, 0, 1))[0, 1], [0.4, 0.4, 0.9])


@pytest.mark.parametrize("planar", [False, True])
def test_composite_over_u8_is_the_quantized_composite(planar):
    """Over a colour and over an image, for contiguous and channel-planar (model layout) fgr:
    the float composite rounded to 8 bits (within 1 where float noise meets a .5)."""
    rng = np.random.default_rng(0)
    pha = rng.random((37, 53), dtype=np.float32)
    fgr = rng.random((3, 37, 53), dtype=np.float32).transpose(1, 2, 0)
    fgr = fgr if planar else np.ascontiguousarray(fgr)
    for background in ((0.2, 0.9, 0.5), rng.random((37, 53, 3), dtype=np.float32)):
        out = composite_over_u8(pha, fgr, background)
        expected = composite_over(pha, fgr, background) * 255
        assert out.dtype == np.uint8 and out.shape == (37, 53, 3)
        assert np.abs(out - expected).max() <= 0.5 + 1e-3


def test_suggested_backbone_scale():
    assert suggest_backbone_scale(384, 512) == 0.25
    assert suggest_backbone_scale(1080, 1920) == 0.25
    assert suggest_backbone_scale(2160, 3840) == 0.125
    assert suggest_backbone_scale(4320, 7680) == 0.0625


def test_quick_start_on_the_bundled_samples(checkpoint, tmp_path):
    out = tmp_path / "out"
    assert run_cli("--model-path", checkpoint, "--src", os.path.join(SAMPLES, "src.jpg"),
                   "--bgr", os.path.join(SAMPLES, "bgr.jpg"), "--output-dir", out,
                   "--outputs", "pha", "fgr", "com", "err", "ref") == 0
    src = read_image(os.path.join(SAMPLES, "src.jpg"))
    pha = cv2.imread(str(out / "pha" / "src.png"), cv2.IMREAD_UNCHANGED)
    assert pha.dtype == np.uint8 and pha.shape == src.shape[:2]
    com = cv2.imread(str(out / "com" / "src.png"), cv2.IMREAD_UNCHANGED)
    assert com.shape == src.shape[:2] + (4,)
    np.testing.assert_array_equal(com[..., 3], pha)
    assert read_image(out / "fgr" / "src.png").shape == src.shape
    ref = read_alpha(out / "ref" / "src.png")
    assert set(np.unique(ref)) <= {0.0, 1.0}
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(out / "pha" / "src.png").st_mode & 0o777 == 0o666 & ~mask  # not owner-only


def test_folders_are_paired_by_name(engine, tmp_path):
    write_pair(tmp_path, "b", 1)
    write_pair(tmp_path, "a", 2, height=40, width=52)
    os.rename(tmp_path / "bgr" / "a.png", tmp_path / "bgr" / "a.jpg")  # names match without extensions
    written = convert(engine, tmp_path / "src", tmp_path / "bgr", tmp_path / "out", outputs=("pha",),
                      progress=False)
    assert written == ["pha/a.png", "pha/b.png"]
    assert read_alpha(tmp_path / "out" / "pha" / "a.png").shape == (40, 52)
    with pytest.raises(ValueError, match="is inside the source folder"):
        convert(engine, tmp_path / "src", tmp_path / "bgr", tmp_path / "src" / "out", progress=False)
    os.remove(tmp_path / "bgr" / "b.png")
    with pytest.raises(InputMismatchError, match="1 source image\\(s\\) .* no background of the same name.*: b"):
        convert(engine, tmp_path / "src", tmp_path / "bgr", tmp_path / "out2", progress=False)
    assert not os.path.exists(tmp_path / "out2")


def test_one_background_for_a_folder_and_resize(engine, tmp_path):
    write_pair(tmp_path, "x", 1)
    write_pair(tmp_path, "y", 2)
    small = cv2.resize(scene(1)[1], (39, 31))
    write_image(tmp_path / "small.png", small)
    with pytest.raises(InputMismatchError, match="78x62 but background 'small' is 39x31.*--resize-bgr"):
        convert(engine, tmp_path / "src", tmp_path / "small.png", tmp_path / "out", progress=False)
    seen = []

    def recording(src, bgr):
        seen.append(bgr)
        return engine(src, bgr)

    recording.outputs = engine.outputs
    written = convert(recording, tmp_path / "src", tmp_path / "small.png", tmp_path / "out", outputs=("com",),
                      resize_bgr=True, progress=False)
    assert written == ["com/x.png", "com/y.png"]
    assert len(seen) == 2 and seen[0] is seen[1]  # the one background is resized and laid out once, not per image


def test_existing_output_needs_overwrite(checkpoint, tmp_path, capsys):
    write_pair(tmp_path, "p", 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["--model-path", checkpoint, "--refine-mode", "full", "--src", tmp_path / "src" / "p.png",
            "--bgr", tmp_path / "bgr" / "p.png", "--output-dir", out, "--outputs", "pha"]
    assert run_cli(*args) == 2
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(out) == ["notes.txt"]
    assert run_cli(*args, "--overwrite") == 0
    assert sorted(os.listdir(out)) == ["notes.txt", "pha"] and (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("problem", ["missing", "unreadable", "size", "not_media"])
def test_bad_inputs_are_clear_errors(checkpoint, tmp_path, capsys, problem):
    src, bgr = write_pair(tmp_path, "p", 4)
    src_path, bgr_path = tmp_path / "src" / "p.png", tmp_path / "bgr" / "p.png"
    expected = {"missing": "input not found: '.*nothere.png'", "unreadable": "cannot read image '.*p.png'",
                "size": "size mismatch", "not_media": "neither an image"}[problem]
    if problem == "missing":
        bgr_path = tmp_path / "nothere.png"
    elif problem == "unreadable":
        bgr_path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    elif problem == "size":
        write_image(bgr_path, bgr[:40])
    else:
        bgr_path = tmp_path / "notes.txt"
        bgr_path.write_text("hello")
    out = tmp_path / "out"
    assert run_cli("--model-path", checkpoint, "--refine-mode", "full", "--src", src_path, "--bgr", bgr_path,
                   "--output-dir", out) == 2
    assert __import__("re").search(expected, capsys.readouterr().err)
    assert not os.path.exists(out)


def test_a_failure_midway_leaves_no_output(engine, tmp_path):
    for i, name in enumerate(["a", "b", "c"]):
        write_pair(tmp_path, name, i)
    (tmp_path / "src" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(OSError, match="b.png"):
        convert(engine, tmp_path / "src", tmp_path / "bgr", tmp_path / "out", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["bgr", "src"]


def write_video(path, frames, fps=12):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor((f * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


def test_video_with_background_image_and_video(engine, tmp_path):
    src, bgr = scene(5, 64, 80)
    frames = [np.roll(src, 3 * i, axis=1) for i in range(5)]
    write_video(tmp_path / "clip.mp4", frames)
    write_image(tmp_path / "bgr.png", bgr)
    written = convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr.png", tmp_path / "out",
                      outputs=("com", "pha"), com_color=(0, 0, 1), batch_size=2, progress=False)
    assert written == ["com.mp4", "pha.mp4"]
    com, fps = read_video(tmp_path / "out" / "com.mp4")
    assert len(com) == 5 and fps == 12 and com[0].shape == (64, 80, 3)

    write_video(tmp_path / "bgr3.mp4", [bgr] * 3)
    with pytest.raises(InputMismatchError, match="has 3 frames but source video .* has 5"):
        convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr3.mp4", tmp_path / "out2", progress=False)
    write_video(tmp_path / "bgr5.mp4", [bgr] * 5)
    assert convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr5.mp4", tmp_path / "out3",
                   outputs=("fgr",), progress=False) == ["fgr.mp4"]
    assert len(read_video(tmp_path / "out3" / "fgr.mp4")[0]) == 5
    with pytest.raises(InputMismatchError, match="cannot pair the image source"):
        convert(engine, tmp_path / "bgr.png", tmp_path / "clip.mp4", tmp_path / "out4", progress=False)
    assert not os.path.exists(tmp_path / "out2") and not os.path.exists(tmp_path / "out4")


def test_suspicious_background_warns(engine, tmp_path):
    src, _ = scene(6)
    write_image(tmp_path / "src.png", src)
    with pytest.warns(UserWarning, match="nearly identical"):
        convert(engine, tmp_path / "src.png", tmp_path / "src.png", tmp_path / "out", outputs=("pha",),
                progress=False)


@pytest.mark.parametrize("failing", ["writing", "model"])
def test_pipeline_threads_stop_when_a_stage_fails(engine, tmp_path, monkeypatch, failing):
    """convert's decoding and model threads end with the run when writing (main thread) or the
    model (its own thread) fails midway; the error reaches the caller and nothing is published."""
    import threading
    import inference.predictor as predictor
    for i in range(6):
        write_pair(tmp_path, f"f{i}", i)
    calls = []

    def broken_write(*args):
        raise OSError("disk full")

    def broken_model(src, bgr):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("model failed")
        return engine(src, bgr)

    broken_model.outputs = engine.outputs
    if failing == "writing":
        monkeypatch.setattr(predictor, "write_alpha", broken_write)
    from tqdm._monitor import TMonitor

    def ours():  # tqdm starts its monitor thread for any bar, even a disabled one
        return {t for t in threading.enumerate() if not isinstance(t, TMonitor)}

    before = ours()
    with pytest.raises((OSError, RuntimeError), match="disk full" if failing == "writing" else "model failed"):
        convert(engine if failing == "writing" else broken_model, tmp_path / "src", tmp_path / "bgr",
                tmp_path / "out", outputs=("pha",), progress=False)
    assert ours() == before
    assert not os.path.exists(tmp_path / "out")


def test_alignment_failure_is_reported_per_image(engine, tmp_path):
    flat = np.full((48, 64, 3), 0.5, np.float32)
    src = flat.copy()
    src[10:30, 20:40] = 0.9
    write_image(tmp_path / "src.png", src)
    write_image(tmp_path / "bgr.png", flat)
    with pytest.warns(UserWarning, match="source 'src': background alignment failed"):
        convert(engine, tmp_path / "src.png", tmp_path / "bgr.png", tmp_path / "out", outputs=("pha",),
                align=True, progress=False)
    assert os.listdir(tmp_path / "out" / "pha") == ["src.png"]
