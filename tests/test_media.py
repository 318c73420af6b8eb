"""Video files through PyAV (inference.media, inference.video_sink) and background replacement
(inference.backdrop, convert's com_bgr / video_format): codecs, audio, timing, truncation, alpha."""
import os
import re
from fractions import Fraction

import av
import numpy as np
import pytest

from dataset.io import read_image, write_image
from inference import media
from inference.backdrop import BackdropError, fit_cover, parse_backdrop
from inference.engines import load_engine
from inference.media import TruncatedVideoWarning, VideoReadError, VideoSource
from inference.predictor import convert
from inference.video_sink import VideoSink
from model import ModelOptions
from tests.test_predict import run_cli, scene


@pytest.fixture(scope="module")
def engine(checkpoint):
    return load_engine(checkpoint, ModelOptions.for_checkpoint(checkpoint, refine_mode="full"))


def make_video(path, frames, fps=12, times=None, audio_seconds=0.0, faststart=False):
    """Encode float RGB frames to H.264 with PyAV; ``times`` (seconds) for variable frame rates,
    ``audio_seconds`` of a 440 Hz AAC tone."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        h, w = frames[0].shape[:2]
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        audio = out.add_stream("aac", rate=44100) if audio_seconds else None
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray((f * 255).astype(np.uint8), format="rgb24")
            frame.pts = round((i / fps if times is None else times[i]) * 1000)
            frame.time_base = Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if audio is not None:
            t = np.arange(int(44100 * audio_seconds)) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp",
                                                   layout="mono")
                chunk.sample_rate = 44100
                chunk.pts = start
                out.mux(audio.encode(chunk))
            out.mux(audio.encode())


def probe(path):
    """{"codec", "pix_fmt", "frames" (decoded), "times", "audio" (seconds or None), "size"}."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {"codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt,
                "size": (v.codec_context.height, v.codec_context.width), "audio": None}
        if c.streams.audio:
            a = c.streams.audio[0]
            info["audio"] = float(a.duration * a.time_base) if a.duration else 0.0
        info["times"] = [round(f.time, 3) for f in c.decode(video=0)]
    info["frames"] = len(info["times"])
    return info


def moving(n, seed=5, height=64, width=80):
    src, bgr = scene(seed, height, width)
    return [np.roll(src, 3 * i, axis=1) for i in range(n)], bgr


def test_mp4_is_h264_yuv420p_with_audio_and_timing_kept(engine, tmp_path):
    frames, bgr = moving(5)
    times = [0, 0.1, 0.15, 0.5, 0.55]  # variable frame rate
    make_video(tmp_path / "clip.mp4", frames, times=times, audio_seconds=0.6)
    write_image(tmp_path / "bgr.png", bgr)
    written = convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr.png", tmp_path / "out", outputs=("com", "pha"),
                      progress=False)
    assert written == ["com.mp4", "pha.mp4"]
    com, pha = probe(tmp_path / "out" / "com.mp4"), probe(tmp_path / "out" / "pha.mp4")
    assert (com["codec"], com["pix_fmt"], com["size"]) == ("h264", "yuv420p", (64, 80))
    assert com["times"] == pytest.approx(times, abs=0.002) and pha["times"] == com["times"]
    assert com["audio"] == pytest.approx(0.6, abs=0.1) and pha["audio"] is None  # audio goes with the composite


def test_video_source_opens_the_file_once_and_counts_decoded_frames(tmp_path, monkeypatch):
    frames, _ = moving(4)
    make_video(tmp_path / "clip.mp4", frames)
    opened = []
    real_open = media.av.open
    monkeypatch.setattr(media.av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    source = VideoSource(tmp_path / "clip.mp4")
    assert source.first_size() == (64, 80) and len(source) == 4
    names = [name for name, _ in source]
    again = [image for _, image in source]  # a second pass seeks back in the same file
    assert names == ["00000", "00001", "00002", "00003"] and len(again) == 4 and source.decoded == 4
    assert len(opened) == 1
    assert np.abs(again[0] - frames[0]).mean() < 0.02  # the same picture (H.264 yuv420p blurs colour edges)


class _Rotated:
    """A decoded frame as a phone video's player sees it: ``rotation`` degrees counter-clockwise."""

    def __init__(self, frame, rotation):
        self.frame, self.rotation = frame, rotation

    def __getattr__(self, name):
        return getattr(self.frame, name)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_video_frames_are_the_decoders_rgb_and_follow_rotation(tmp_path, rotation):
    """Frames equal FFmpeg's own RGB conversion (to_ndarray) / 255, whatever the memory layout,
    and a rotated stream's frames are turned as its player turns them."""
    frames, _ = moving(2)
    make_video(tmp_path / "clip.mp4", frames)
    source = VideoSource(tmp_path / "clip.mp4")
    decoded = [image for _, image in source]
    with av.open(str(tmp_path / "clip.mp4")) as container:
        raw = list(container.decode(video=0))
    expected = raw[1].to_ndarray(format="rgb24").astype(np.float32) / 255
    assert decoded[1].shape == (64, 80, 3) and decoded[1].dtype == np.float32
    np.testing.assert_allclose(decoded[1], expected, atol=1e-6)
    turned = source._convert(_Rotated(raw[1], rotation))
    np.testing.assert_allclose(turned, np.rot90(expected, rotation // 90), atol=1e-6)
    source.close()


def test_truncated_video_warns_with_both_counts(engine, tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.random((64, 80, 3), dtype=np.float32) for _ in range(10)]  # noise: every frame is big
    make_video(tmp_path / "full.mp4", frames, faststart=True)  # index first, so a cut file still opens
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) // 2])
    write_image(tmp_path / "bgr.png", frames[0])
    with pytest.warns(TruncatedVideoWarning, match=r"header says 10 frames but only (\d) could be decoded") as w:
        convert(engine, tmp_path / "cut.mp4", tmp_path / "bgr.png", tmp_path / "out", outputs=("pha",),
                progress=False)
    message = next(str(x.message) for x in w if x.category is TruncatedVideoWarning)
    decoded = int(re.search(r"only (\d)", message).group(1))
    assert 1 <= decoded < 10 and probe(tmp_path / "out" / "pha.mp4")["frames"] == decoded


def test_unreadable_video_says_video(checkpoint, tmp_path, capsys):
    write_image(tmp_path / "bgr.png", scene(1)[1])
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real video")
    assert run_cli("--model-path", checkpoint, "--src", tmp_path / "clip.mp4", "--bgr", tmp_path / "bgr.png",
                   "--output-dir", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "cannot read video '" in err and "clip.mp4" in err and "cannot read image" not in err
    assert not os.path.exists(tmp_path / "out")
    with pytest.raises(VideoReadError, match="cannot read video"):
        VideoSource(tmp_path / "clip.mp4")


def test_com_bgr_image_colour_and_video_for_images(engine, tmp_path):
    src, bgr = scene(3)
    write_image(tmp_path / "src.png", src)
    write_image(tmp_path / "bgr.png", bgr)
    red = np.zeros((30, 120, 3), np.float32)
    red[..., 0] = 1
    red[:, :30] = 0.2  # cut off by the cover crop
    write_image(tmp_path / "red.png", red)
    make_video(tmp_path / "bg.mp4", [np.full((64, 80, 3), 0.5, np.float32)] * 2)
    for out, com_bgr, behind in (("red", tmp_path / "red.png", [1, 0, 0]), ("blue", parse_backdrop("0,0,255"), [0, 0, 1]),
                                 ("gray", tmp_path / "bg.mp4", [0.5, 0.5, 0.5])):
        written = convert(engine, tmp_path / "src.png", tmp_path / "bgr.png", tmp_path / out,
                          outputs=("com", "pha", "fgr"), com_bgr=com_bgr, progress=False)
        assert written == ["com/src.png", "com_bgr/src.png", "fgr/src.png", "pha/src.png"]
        pha = read_image(tmp_path / out / "pha" / "src.png")[..., :1]
        fgr = read_image(tmp_path / out / "fgr" / "src.png")
        composite = read_image(tmp_path / out / "com_bgr" / "src.png")
        expected = fgr * pha + np.float32(behind) * (1 - pha)  # the new background shows through (1 - alpha)
        np.testing.assert_allclose(composite, expected, atol=0.03)
        assert read_image(tmp_path / out / "com" / "src.png").shape == (62, 78, 3)  # the RGBA cut-out stays


def test_com_bgr_video_is_cut_looped_or_refused(engine, tmp_path, checkpoint, capsys):
    frames, bgr = moving(5)
    make_video(tmp_path / "clip.mp4", frames)
    write_image(tmp_path / "bgr.png", bgr)
    make_video(tmp_path / "long.mp4", [np.full((32, 40, 3), v, np.float32) for v in np.linspace(0, 1, 8)])
    make_video(tmp_path / "short.mp4", [np.full((64, 80, 3), 0.5, np.float32)] * 2)
    assert convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr.png", tmp_path / "cut", outputs=("com",),
                   com_bgr=tmp_path / "long.mp4", progress=False) == ["com.mp4"]
    assert probe(tmp_path / "cut" / "com.mp4")["frames"] == 5
    args = ["--model-path", checkpoint, "--refine-mode", "full", "--src", tmp_path / "clip.mp4", "--bgr",
            tmp_path / "bgr.png", "--outputs", "com", "--com-bgr", tmp_path / "short.mp4"]
    assert run_cli(*args, "--output-dir", tmp_path / "short") == 2
    assert "background video '" in capsys.readouterr().err and not os.path.exists(tmp_path / "short")
    assert run_cli(*args, "--com-bgr-loop", "--output-dir", tmp_path / "loop") == 0
    assert probe(tmp_path / "loop" / "com.mp4")["frames"] == 5


@pytest.mark.parametrize("video_format, codec, pix_fmt", [("mov", "prores", "yuva444p"), ("webm", "vp9", "yuva420p")])
def test_alpha_videos(engine, tmp_path, video_format, codec, pix_fmt):
    frames, bgr = moving(3)
    make_video(tmp_path / "clip.mp4", frames)
    write_image(tmp_path / "bgr.png", bgr)
    written = convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr.png", tmp_path / "out", outputs=("com", "pha"),
                      com_bgr=(0, 0, 1), video_format=video_format, progress=False)
    assert written == [f"com.{video_format}", f"com_bgr.{video_format}", f"pha.{video_format}"]
    with av.open(str(tmp_path / "out" / f"com.{video_format}")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name.startswith(codec)
        # VP9 keeps alpha in a side channel that only libvpx's decoder (not FFmpeg's own) reads
        decoder = av.CodecContext.create("libvpx-vp9", "r") if video_format == "webm" else stream.codec_context
        decoded = [f for packet in c.demux(stream) for f in decoder.decode(packet)]
        assert decoded[0].format.name.startswith(pix_fmt)
        rgba = [f.to_ndarray(format="rgba") for f in decoded]
    pha = [f.to_ndarray(format="gray") for f in av.open(str(tmp_path / "out" / f"pha.{video_format}")).decode(video=0)]
    assert len(rgba) == len(pha) == 3 and rgba[0].shape == (64, 80, 4)
    np.testing.assert_allclose(rgba[0][..., 3].astype(float), pha[0].astype(float), atol=12)  # alpha channel = matte


def test_png_sequences(engine, tmp_path):
    frames, bgr = moving(3)
    make_video(tmp_path / "clip.mp4", frames)
    write_image(tmp_path / "bgr.png", bgr)
    written = convert(engine, tmp_path / "clip.mp4", tmp_path / "bgr.png", tmp_path / "out", outputs=("com", "pha"),
                      video_format="png", progress=False)
    assert written == [f"com/0000{i}.png" for i in range(3)] + [f"pha/0000{i}.png" for i in range(3)]
    import cv2
    assert cv2.imread(str(tmp_path / "out" / "com" / "00001.png"), cv2.IMREAD_UNCHANGED).shape == (64, 80, 4)


def test_odd_sizes_fit_cover_and_bad_colours(tmp_path):
    with VideoSink(tmp_path / "odd.mp4", 10, (31, 45)) as sink:
        for _ in range(2):
            sink.write(np.full((31, 45, 3), 0.5, np.float32))
    assert probe(tmp_path / "odd.mp4")["size"] == (32, 46)  # yuv420p needs even sides: one edge pixel added
    wide = np.zeros((10, 40, 3), np.float32)
    wide[:, 18:22] = 1  # a white bar in the middle of a wide black image
    fitted = fit_cover(wide, (20, 20))
    assert fitted.shape == (20, 20, 3) and fitted[:, 0].max() == 0 and fitted[:, 10].min() == 1  # cropped, not squashed
    with pytest.raises(BackdropError, match="--com-bgr must be R,G,B"):
        parse_backdrop("300,0,0")
    with pytest.raises(ValueError, match="no alpha channel"):
        VideoSink(tmp_path / "a.mp4", 10, (4, 4), alpha=True)
