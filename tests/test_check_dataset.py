"""tools/check_dataset: layout and counts of good releases; each problem reported with the right severity."""
import os
import subprocess
import sys

import numpy as np

from tests.helpers import release_fixtures as rf
from dataset.checker import check_dataset
from tools.check_dataset import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def problems(report):
    return sorted({p for p, _, _ in report.findings})


def test_good_releases_pass_with_their_layout_and_counts(tmp_path):
    cases = [(rf.photomatte_rgba(tmp_path / "pm"), "photomatte85-rgba", {"images": 3}),
             (rf.pha_fgr(tmp_path / "gt"), "pha-fgr", {"images": 3}),
             (rf.videomatte_jpeg(tmp_path / "vmj"), "videomatte240k-jpeg", {"clips": 4, "frames": 8}),
             (rf.videomatte_video(tmp_path / "vmv"), "videomatte240k-video", {"clips": 4, "frames": 12}),
             (rf.distinctions646(tmp_path / "d646"), "distinctions646", {"images": 4}),
             (rf.backgrounds(tmp_path / "bg"), "backgrounds", {"images": 3})]
    for path, layout, counts in cases:
        report = check_dataset(path)
        assert report.layout.startswith(layout) and report.counts == counts, report.format()
        assert report.findings == [] and report.exit_status == 0


def test_broken_rgba_release(tmp_path):
    root = rf.photomatte_rgba(tmp_path / "pm", n=1, wrapper="")
    rf.write(root / "opaque.png", rf.rgba(1, alpha=255))
    rf.write(root / "empty.png", rf.rgba(2, alpha=0))
    (root / "cut.png").write_bytes((root / "0000.png").read_bytes()[:60])
    report = check_dataset(root, "photomatte85")
    assert problems(report) == ["alpha_constant", "opaque", "unreadable"]
    assert [os.path.basename(f) for p, f, _ in report.findings if p == "unreadable"] == ["cut.png"]
    assert report.exit_status == 2


def test_rgba_folder_with_an_rgb_file_names_it(tmp_path):
    root = rf.photomatte_rgba(tmp_path / "pm", n=1, wrapper="")
    rf.write(root / "rgb.png", rf.rgba(1)[..., :3])
    report = check_dataset(root, "photomatte85")
    assert report.layout is None and report.exit_status == 2
    assert "rgb.png" in report.findings[0][2] and "not PNGs with an alpha channel" in report.findings[0][2]


def test_broken_pairs(tmp_path):
    root = rf.pha_fgr(tmp_path / "gt", n=6)
    os.remove(root / "fgr" / "0000.jpg")                                             # pha without fgr
    rf.write(root / "fgr" / "extra.jpg", rf.rgba(0)[..., :3])                       # fgr without pha
    rf.write(root / "pha" / "0001.png", np.zeros((rf.H, rf.W + 2), np.uint8) + 9)   # size mismatch
    rf.write(root / "pha" / "0002.png", rf.rgba(2)[..., :3])                        # colour "matte"
    rf.write(root / "pha" / "0003.png", np.full((rf.H, rf.W), 255, np.uint8))       # all 255
    rf.write(root / "pha" / "0004.png", rf.rgba(4))                                 # RGBA matte
    report = check_dataset(root)
    found = {(p, os.path.basename(f)) for p, f, _ in report.findings}
    assert found == {("unmatched", "0000.png"), ("unmatched", "extra.jpg"), ("size", "0001.jpg"),
                     ("size", "0001.png"), ("alpha_channels", "0002.png"), ("alpha_constant", "0003.png"),
                     ("alpha_channels", "0004.png")}, report.format()
    assert report.exit_status == 2


def test_warnings_alone_exit_0(tmp_path):
    root = rf.distinctions646(tmp_path / "d646")
    rf.write(root / "Distinctions-646" / "Train" / "GT" / "train_0.png", np.zeros((rf.H, rf.W), np.uint8))
    report = check_dataset(root)
    assert problems(report) == ["alpha_constant"] and report.exit_status == 0
    assert "OK with warnings" in report.format()


def test_broken_videos(tmp_path):
    root = rf.videomatte_video(tmp_path / "vm", clips=1)
    rf.video(root / "train" / "pha" / "0000.mp4", 2)                 # 3 fgr frames vs 2 pha frames
    rf.video(root / "test" / "pha" / "0000.mp4", 3, size=(32, 16))   # frame size differs
    (root / "test" / "fgr" / "0001.mp4").write_bytes(b"not a video")  # unreadable and without pha
    report = check_dataset(root, "videomatte240k")
    assert problems(report) == ["frames", "size", "unmatched"], report.format()
    (root / "test" / "pha" / "0001.mp4").write_bytes(b"not a video")
    assert "unreadable" in problems(check_dataset(root, "videomatte240k"))


def test_cli_exit_status_and_summary(tmp_path, capsys):
    good = rf.photomatte_rgba(tmp_path / "pm")
    assert main([str(rf.zip_folder(good, tmp_path / "pm.zip"))]) == 0
    assert "photomatte85-rgba" in capsys.readouterr().out
    assert main([str(good), "--kind", "videomatte240k"]) == 2
    assert "VideoMatte240K" in capsys.readouterr().out
    # runnable as a module from the repository root, without path tricks
    run = subprocess.run([sys.executable, "-m", "tools.check_dataset", str(tmp_path / "missing")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "not recognised" in run.stdout
