"""Side-by-side inference speed: our default path, Paddle Inference, dygraph and the official PyTorch model.

    python -m benchmarks.bench_inference                 # all cases and engines, 2 threads, 3 rounds
    python -m benchmarks.bench_inference --engines default inference torch --rounds 2 --runs 3
    python -m benchmarks.bench_inference --cases mnv2-hd --rounds 5 --threads 2

Engines: default (``load_engine``'s choice: ONNX Runtime on CPU, Paddle Inference on GPU),
inference (Paddle Inference; oneDNN on CPU), dygraph, torch (the reference).

Every case uses the same seeded, calibrated weights (built with the reference code, saved as .pth
and converted with our converter) and the same synthetic input. Each engine runs in its own
process per round (warm-up, then ``--runs`` timed frames), the rounds interleave the engines so
that machine noise hits them alike, and the table reports the median over all timed frames,
the time ratio to the reference, and each process's peak resident memory (and its growth while
running frames). On a GPU (``--device gpu``) the default path and the reference are also timed in
fp16 (ratios compare the same precision); the fps column is 1 / (s/frame).

Needs torch and backgroundmattingv2==1.0 (pip install -r requirements-test.txt). For a GPU machine
without Paddle, benchmarks/bench_onnx_gpu.py times the same exported models under ONNX Runtime's
CUDA provider.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (backbone, model_type, height, width, backbone_scale, sample_pixels)
CASES = {
    "mnv2-hd": ("mobilenetv2", "mattingrefine", 1080, 1920, 0.25, 80_000),
    "mnv2-4k": ("mobilenetv2", "mattingrefine", 2160, 3840, 0.125, 320_000),
    "r50-hd": ("resnet50", "mattingrefine", 1080, 1920, 0.25, 80_000),
    "r50-base": ("resnet50", "mattingbase", 512, 512, None, None),
    "r50-4k": ("resnet50", "mattingrefine", 2160, 3840, 0.125, 320_000),  # GPU (bench_onnx_gpu.py); slow on CPU
}
DEFAULT_CASES = ("mnv2-hd", "mnv2-4k", "r50-hd", "r50-base")
# default: load_engine's choice for the device, engine "auto" (ONNX Runtime on CPU, Paddle Inference on GPU)
ENGINES = ("default", "inference", "dygraph", "torch")


def make_input(height, width, seed=0):
    """A smooth background and a source with a soft-edged subject: float32 (1, 3, H, W) in [0, 1]."""
    import cv2

    rng = np.random.default_rng(seed)
    bgr = cv2.resize(rng.random((height // 16, width // 16, 3), dtype=np.float32), (width, height),
                     interpolation=cv2.INTER_CUBIC).clip(0, 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    alpha = np.clip((0.3 * min(height, width) - np.hypot(yy - height * 0.55, (xx - width * 0.5) * 0.8)) / 8, 0, 1)
    src = alpha[..., None] * np.array([0.8, 0.5, 0.4], np.float32) + (1 - alpha[..., None]) * bgr
    return (np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=np.float32) for a in (src, bgr))


def _memory_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def refine_options(case):
    """The case's refiner settings (sampling mode), keyword arguments of both frameworks' models; {} for base."""
    _, model_type, _, _, scale, pixels = CASES[case]
    if model_type != "mattingrefine":
        return {}
    return dict(backbone_scale=scale, refine_mode="sampling", refine_sample_pixels=pixels)


def torch_runner(net, src, bgr, device, dtype):
    """One frame of the reference ``net`` as the paper's speed test runs it: inputs already on
    ``device`` ("cpu" or "cuda") in ``dtype``, torch.inference_mode, synchronised on CUDA."""
    import torch
    s, b = (torch.from_numpy(x).to(device, dtype) for x in (src, bgr))

    def run():
        with torch.inference_mode():
            net(s, b)
        if device == "cuda":
            torch.cuda.synchronize()
    return run


def time_frames(run, warmup, runs):
    """Seconds of each of ``runs`` calls of ``run`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def worker(args):
    """Time one engine on one case in this process; print a JSON line."""
    backbone, model_type, height, width = CASES[args.case][:4]
    src, bgr = make_input(height, width)
    refine = refine_options(args.case)
    if args.engine == "torch":
        import torch
        from BackgroundMattingV2.model.model import MattingBase, MattingRefine

        torch.set_num_threads(args.threads)
        device = "cuda" if args.device == "gpu" else "cpu"
        net = MattingRefine(backbone, **refine) if model_type == "mattingrefine" else MattingBase(backbone)
        net.load_state_dict(torch.load(args.pth, map_location="cpu"))
        dtype = torch.float16 if args.precision == "fp16" else torch.float32
        run = torch_runner(net.eval().to(device, dtype), src, bgr, device, dtype)
    else:
        from inference.engines import load_engine
        from model.options import ModelOptions

        options = ModelOptions(model_type=model_type, backbone=backbone, **refine)
        half = {"precision": args.precision} if args.precision != "fp32" else {}
        engine = load_engine(args.pdparams, options, engine="auto" if args.engine == "default" else args.engine,
                             device=args.device, threads=args.threads, **half)

        def run():
            engine(src, bgr)
    for _ in range(args.warmup):
        run()
    before = _memory_kib("VmRSS:")
    times = time_frames(run, 0, args.runs)
    print(json.dumps({"times": times, "peak_mib": _memory_kib("VmHWM:") / 1024,
                      "growth_mib": (_memory_kib("VmHWM:") - before) / 1024}))


def prepare_weights(case, folder):
    """Seeded reference weights as .pth and, through our converter, .pdparams."""
    from tests.helpers.reference_checkpoint import ensure_reference_weights

    backbone, model_type = CASES[case][:2]
    return ensure_reference_weights(folder, backbone, refine=model_type == "mattingrefine")


def run_worker(case, engine, pth, pdparams, args, precision="fp32"):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", __spec__.name, "--worker", "--case", case, "--engine", engine,
           "--pth", pth, "--pdparams", pdparams, "--threads", str(args.threads), "--runs", str(args.runs),
           "--warmup", str(args.warmup), "--device", args.device, "--precision", precision]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} on {case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=list(CASES))
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one process per engine each)")
    parser.add_argument("--runs", type=int, default=5, help="timed frames per process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--weights-dir", help="keep the generated weights here (default: a temporary folder)")
    # Internal: one measurement in a subprocess.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--pth", help=argparse.SUPPRESS)
    parser.add_argument("--pdparams", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    folder = args.weights_dir or tempfile.mkdtemp(prefix="bgmv2_bench_")
    os.makedirs(folder, exist_ok=True)
    variants = [(e, "fp32") for e in args.engines]
    if args.device == "gpu":
        variants += [(e, "fp16") for e in ("default", "torch") if e in args.engines]
    rows = []
    for case in args.cases:
        pth, pdparams = prepare_weights(case, folder)
        for engine in ("default", "inference"):  # export (and convert) once, outside the timed rounds
            if engine in args.engines:
                run_worker(case, engine, pth, pdparams, argparse.Namespace(**{**vars(args), "runs": 1, "warmup": 0}))
        samples = {v: [] for v in variants}
        memory = {v: (0.0, 0.0) for v in variants}
        for _ in range(args.rounds):
            for variant in variants:
                out = run_worker(case, variant[0], pth, pdparams, args, precision=variant[1])
                samples[variant] += out["times"]
                memory[variant] = (max(memory[variant][0], out["peak_mib"]),
                                   max(memory[variant][1], out["growth_mib"]))
        for variant in variants:  # the ratio to the reference in the same precision
            median = float(np.median(samples[variant]))
            reference = float(np.median(samples[("torch", variant[1])])) if ("torch", variant[1]) in samples \
                else float("nan")
            rows.append((case, f"{variant[0]}" + (" fp16" if variant[1] == "fp16" else ""), median,
                         median / reference, *memory[variant]))
        print(f"done: {case}", file=sys.stderr, flush=True)

    print(f"\nthreads={args.threads} device={args.device} rounds={args.rounds} runs/round={args.runs} "
          f"(median over {args.rounds * args.runs} frames per engine)")
    header = f"{'case':<10} {'engine':<13} {'s/frame':>8} {'fps':>7} {'vs torch':>9} {'peak MiB':>9} {'growth MiB':>11}"
    print(header)
    print("-" * len(header))
    for case, engine, median, ratio, peak, growth in rows:
        print(f"{case:<10} {engine:<13} {median:8.3f} {1 / median:7.2f} {ratio:9.2f} {peak:9.0f} {growth:11.0f}")
    for case in args.cases:
        backbone, model_type, h, w, scale, pixels = CASES[case]
        detail = f"scale {scale}, sampling {pixels:,} px" if scale else "base network only"
        print(f"  {case}: {backbone} {model_type} {w}x{h}, {detail}")


if __name__ == "__main__":
    main()
