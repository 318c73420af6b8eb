"""Live mode (inference.live, tools.live) with a video file standing in for the camera."""
import os
import time

import numpy as np
import pytest

from dataset.io import write_image
from inference.engines import load_engine
from inference.live import Capture, LiveSession, RecordSink, SourceStalled, open_reader
from model import ModelOptions
from tests.test_media import make_video, probe
from tests.test_predict import scene
from tools import live


@pytest.fixture(scope="module")
def engine(checkpoint):
    return load_engine(checkpoint, ModelOptions.for_checkpoint(checkpoint, refine_mode="full"))


def clip(path, n=12, fps=24, empty=0):
    """A clip of a disc moving over a textured background; its first ``empty`` frames show the background only."""
    src, bgr = scene(5, 64, 80)
    frames = [bgr] * empty + [np.roll(src, 2 * i, axis=1) for i in range(n - empty)]
    make_video(path, frames, fps=fps)
    return bgr


def run_live(*args):
    return live.main([str(a) for a in args])


class Keep:
    """A sink that keeps what it is shown."""

    def __init__(self):
        self.frames, self.infos = [], []

    def show(self, frame, info):
        self.frames.append(frame)
        self.infos.append(info)

    def close(self):
        pass


def test_records_a_composite_from_a_file_with_a_given_plate(checkpoint, tmp_path, capsys):
    plate = clip(tmp_path / "clip.mp4")
    write_image(tmp_path / "plate.png", plate)
    assert run_live("--model-path", checkpoint, "--refine-mode", "full", "--source", tmp_path / "clip.mp4", "--bgr",
                    tmp_path / "plate.png", "--loop", "--com-bgr", "0,0,255", "--record", tmp_path / "live.mp4",
                    "--max-frames", 3) == 0
    info = probe(tmp_path / "live.mp4")
    assert info["frames"] == 3 and info["size"] == (64, 80) and info["codec"] == "h264"
    assert "3 frames matted" in capsys.readouterr().err
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_plate_captured_from_the_feed_and_recaptured(engine, tmp_path):
    plate = clip(tmp_path / "clip.mp4", n=14, empty=3)
    frames = list(open_reader(tmp_path / "clip.mp4", realtime=False))  # every frame, in order
    keep = Keep()
    session = LiveSession(engine, Capture(iter(())), (0, 0, 1), sinks=[keep], plate_frames=3, countdown=0, log=None)
    for number, (frame, t) in enumerate(frames[:2], 1):
        session.step(number, frame, t)
    assert session.plate is None and session.matted == 0 and keep.infos[0]["text"].startswith("capturing")
    assert keep.frames[0] is frames[0][0]  # shown as is while the plate is taken
    session.step(3, *frames[2])  # the third empty frame completes the plate and is matted
    assert np.abs(session.plate - plate).mean() < 0.02 and session.matted == 1
    session.step(4, *frames[5])
    assert session.matted == 2 and keep.frames[-1].shape == (64, 80, 3) and keep.infos[-1]["text"].endswith("fps")
    session.recapture()
    session.step(5, *frames[6])
    assert session.plate is not None and session.matted == 2  # collecting again: not matted
    seen = []
    session.engine = lambda src, bgr: seen.append(bgr) or engine(src, bgr)
    for number in (6, 7):  # frames 5-7 make the new plate; the 7th is matted with it, not with the old one
        session.step(number, *frames[number + 1])
    assert session.matted == 3 and len(seen) == 1
    np.testing.assert_allclose(seen[0][0].transpose(1, 2, 0), session.plate, atol=1e-6)
    assert np.abs(session.plate - plate).mean() > 0.02  # taken with the subject in view: another plate
    session.close()


def test_drops_frames_instead_of_lagging(engine, tmp_path):
    clip(tmp_path / "clip.mp4", n=24, fps=48)  # half a second of video
    slow_calls = []

    def slow(src, bgr):
        slow_calls.append(time.monotonic())
        time.sleep(0.08)  # ~12 fps: a quarter of the source's rate
        return engine(src, bgr)

    slow.outputs = engine.outputs
    keep = Keep()
    write_image(tmp_path / "plate.png", scene(5, 64, 80)[1])
    session = LiveSession(slow, Capture(open_reader(tmp_path / "clip.mp4")), plate=np.zeros((64, 80, 3), np.uint8),
                          sinks=[keep], log=None)
    start = time.monotonic()
    session.run()
    elapsed = time.monotonic() - start
    numbers = [i["number"] for i in keep.infos]
    assert session.capture.read == 24 and session.matted < 24  # every frame arrived, not every frame was matted
    assert numbers == sorted(set(numbers)) and numbers[-1] - numbers[0] > len(numbers)  # skipped, in order
    assert elapsed < 0.5 + 3 * 0.08 + 0.5  # finished with the clip, not 24 x 0.08 s later


def test_a_source_that_stops_delivering_is_reported(engine):
    def hangs():
        yield np.zeros((64, 80, 3), np.uint8), time.monotonic()
        time.sleep(30)

    keep = Keep()
    session = LiveSession(engine, Capture(hangs(), label="camera 0"), plate=np.zeros((64, 80, 3), np.uint8),
                          sinks=[keep], stall_timeout=0.3, log=None)
    with pytest.raises(SourceStalled, match="camera 0 stopped delivering frames"):
        session.run()
    assert session.matted == 1 and len(keep.frames) == 1  # the frame before the stall went through


@pytest.mark.parametrize("problem", ["camera", "stream", "plate", "record"])
def test_bad_live_inputs(checkpoint, tmp_path, capsys, problem):
    clip(tmp_path / "clip.mp4")
    args = ["--model-path", checkpoint, "--refine-mode", "full", "--record", tmp_path / "out.mp4", "--max-frames", 2]
    if problem == "camera":
        args += ["--source", "57"]
        expected = "no camera at index 57"
    elif problem == "stream":
        args += ["--source", "rtsp://127.0.0.1:9/none", "--stall-timeout", "2"]
        expected = "cannot open live source 'rtsp://127.0.0.1:9/none'"
    elif problem == "plate":
        write_image(tmp_path / "plate.png", np.zeros((30, 40, 3), np.float32))
        args += ["--source", tmp_path / "clip.mp4", "--bgr", tmp_path / "plate.png"]
        expected = "the background plate is 40x30 but the live frames are 80x64"
    else:
        args = args[:-4] + ["--source", tmp_path / "clip.mp4", "--record", tmp_path / "out.avi"]
        expected = "video files end in .mp4, .mov, .webm"
    start = time.monotonic()
    assert run_live(*args) == 2
    assert expected in capsys.readouterr().err and time.monotonic() - start < 30
    assert not [n for n in os.listdir(tmp_path) if n.startswith(("out", ".tmp"))]  # nothing half-written


def test_record_sink_keeps_capture_times(tmp_path):
    sink = RecordSink(tmp_path / "r.mp4")
    for t in (10.0, 10.1, 10.4):
        sink.show(np.full((16, 16, 3), 128, np.uint8), {"time": t})
    assert not os.path.exists(tmp_path / "r.mp4")  # appears only when finished
    sink.close()
    assert probe(tmp_path / "r.mp4")["times"] == pytest.approx([0, 0.1, 0.4], abs=0.002)
