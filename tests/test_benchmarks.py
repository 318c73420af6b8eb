"""The benchmark scripts run end to end (one small case, one frame / step each) and print their tables.

Their numbers are not checked here (benchmarks measure, tests do not time); this catches a script
broken by a change elsewhere, such as a changed ``build_optimizer`` signature.
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.environ.get("REQUIRE_PARITY"):  # both scripts run the PyTorch reference side by side
    pytest.importorskip("torch")
    pytest.importorskip("BackgroundMattingV2")

NUMBER = r"\d+\.\d+"


def run(script, *args):
    out = subprocess.run([sys.executable, "-m", "benchmarks." + script.removesuffix(".py"), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_bench_train_prints_both_frameworks(tmp_path):
    text = run("bench_train.py", "--cases", "mnv2-base", "--steps", "1", "--warmup", "0", "--batch-size", "2",
               "--weights-dir", str(tmp_path))
    for framework in ("torch", "paddle"):
        row = re.search(rf"^\| mnv2-base \| 256x256 \| {framework} \| ({NUMBER}) \|.*\| ({NUMBER})x \|$", text, re.M)
        assert row and float(row.group(1)) > 0, text
    assert re.search(r"\| torch \|.*\| 1\.00x \|$", text, re.M), text


def test_bench_inference_prints_every_engine(tmp_path):
    text = run("bench_inference.py", "--cases", "mnv2-hd", "--engines", "default", "inference", "dygraph", "torch",
               "--rounds", "1", "--runs", "1", "--warmup", "0", "--weights-dir", str(tmp_path))
    for engine in ("default", "inference", "dygraph", "torch"):
        row = re.search(rf"^mnv2-hd\s+{engine}\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+(\d+)", text, re.M)
        assert row and float(row.group(1)) > 0 and int(row.group(4)) > 0, text
    assert re.search(r"^mnv2-hd\s+torch\s+\S+\s+\S+\s+1\.00\s", text, re.M), text


def test_bench_onnx_gpu_packs_and_runs_on_cpu(tmp_path):
    """The GPU benchmark's pack (weights out of the graphs, rounded to 8 bits) rebuilds a model whose
    outputs match the packed CPU outputs; a dry run on the CPU prints both engines."""
    pack = tmp_path / "pack"
    run("bench_onnx_gpu.py", "pack", str(pack), "--cases", "mnv2-hd", "--weights-dir", str(tmp_path))
    sizes = {p.name: p.stat().st_size for p in pack.iterdir()}
    assert sizes["mobilenetv2.npz"] < 6e6 < os.path.getsize(tmp_path / "mobilenetv2_mattingrefine.pth") / 3
    assert sizes["mnv2-hd.onnx"] < 1e6  # the graph travels without its weights
    text = run("bench_onnx_gpu.py", "run", str(pack), "--device", "cpu", "--cases", "mnv2-hd", "--precisions", "fp32",
               "--runs", "1", "--warmup", "0")
    row = re.search(rf"^mnv2-hd\s+onnxruntime\s+fp32\s+({NUMBER})\s+{NUMBER}\s+({NUMBER})\s+0\s+(\S+) \((\d+)%\)",
                    text, re.M)
    assert row and float(row.group(1)) > 0, text
    assert float(row.group(3)) < 1e-3 and row.group(4) == "100", text  # the packed outputs are stored in float16
    assert re.search(r"^mnv2-hd\s+torch\s+fp32\s+\S+\s+\S+\s+1\.00\s", text, re.M), text


def test_bench_video_prints_engine_and_convert():
    """The video benchmark (no reference needed) on a tiny clip, one round: the engine's row, the
    whole convert run's row with its ratio, and the per-frame row."""
    text = run("bench_video.py", "--size", "96x160", "--frames", "2", "--rounds", "1")
    engine = re.search(rf"^\| engine alone \| ({NUMBER}) \| {NUMBER} \| 1\.00x \(1\.00-1\.00\) \|$", text, re.M)
    whole = re.search(rf"^\| convert, whole run of 2 frames \| ({NUMBER}) \| {NUMBER} \| ({NUMBER})x "
                      rf"\(({NUMBER})-({NUMBER})\) \|$", text, re.M)
    assert engine and whole and float(engine.group(1)) > 0, text
    # one round: the ratio is the row's time over the engine's, and its range is that one value
    assert abs(float(whole.group(2)) - float(whole.group(1)) / float(engine.group(1))) < 0.02, text
    assert whole.group(2) == whole.group(3) == whole.group(4), text
    assert re.search(r"^\| convert, per frame \| -?[0-9.]+ \| ", text, re.M), text
