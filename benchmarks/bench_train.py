"""Training-step speed: our Paddle step against the official PyTorch model's step, same weights and data.

    python -m benchmarks.bench_train                        # base and refine, MobileNetV2, batch 2
    python -m benchmarks.bench_train --cases mnv2-base r50-base --steps 5 --threads 2

A step is what the training loop does per batch after data loading and augmentation: forward,
the BGMv2 loss (reference ``compute_loss``), backward and the Adam step with the reference's
per-module learning rates. Both frameworks start from the same seeded reference weights (the
official model's, converted by ``model.torch_weights.convert_checkpoint``) and the same batch; each
runs in its own process with the same number of threads. The table gives the median step time
over ``--steps`` timed steps (after ``--warmup``), the ratio to PyTorch and the split into
forward+loss / backward / optimizer, which names where the time goes. The reference loss is
re-implemented here with torch ops (kornia is not installed): L1 + Sobel + masked fgr + error MSE.

Needs torch and backgroundmattingv2==1.0 (pip install -r requirements-test.txt).
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

# name: (backbone, model_type, crop side, backbone_scale, sample_pixels)
CASES = {
    "mnv2-base": ("mobilenetv2", "mattingbase", 256, None, None),
    "mnv2-refine": ("mobilenetv2", "mattingrefine", 512, 0.25, 80_000),
    "r50-base": ("resnet50", "mattingbase", 256, None, None),
    "r50-refine": ("resnet50", "mattingrefine", 512, 0.25, 80_000),
}
FRAMEWORKS = ("paddle", "torch")
LEARNING_RATES = {"mattingbase": {"backbone": 1e-4, "aspp": 5e-4, "decoder": 5e-4},
                  "mattingrefine": {"backbone": 5e-5, "aspp": 5e-5, "decoder": 1e-4, "refiner": 3e-4}}


def make_batch(batch, side, seed=0):
    """A seeded training batch: src, bgr, pha, fgr float32 (B, C, side, side) in [0, 1]."""
    import cv2

    rng = np.random.default_rng(seed)
    out = {k: [] for k in ("src", "bgr", "pha", "fgr")}
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    for _ in range(batch):
        bgr = cv2.resize(rng.random((side // 16, side // 16, 3), dtype=np.float32), (side, side),
                         interpolation=cv2.INTER_CUBIC).clip(0, 1)
        fgr = cv2.resize(rng.random((side // 8, side // 8, 3), dtype=np.float32), (side, side),
                         interpolation=cv2.INTER_CUBIC).clip(0, 1)
        cy, cx, r = rng.uniform(0.4, 0.6) * side, rng.uniform(0.4, 0.6) * side, rng.uniform(0.2, 0.35) * side
        pha = np.clip((r - np.hypot(yy - cy, xx - cx)) / 6, 0, 1)[..., None]
        for k, v in (("src", pha * fgr + (1 - pha) * bgr), ("bgr", bgr), ("pha", pha), ("fgr", fgr)):
            out[k].append(v.transpose(2, 0, 1))
    return {k: np.ascontiguousarray(np.stack(v), dtype=np.float32) for k, v in out.items()}


def _paddle_step(case, pdparams, batch):
    """(setup, step) for our model: step() returns (forward+loss, backward, optimizer) seconds."""
    import paddle

    from model.loading import load_checkpoint
    from model.options import build_model
    from training.losses import base_loss, refine_loss
    from training.optim import build_optimizer

    backbone, model_type, _, scale, pixels = CASES[case]
    refine = {"backbone_scale": scale, "refine_sample_pixels": pixels} if model_type == "mattingrefine" else {}
    net = build_model(model_type, backbone, **refine)
    load_checkpoint(net, pdparams)
    net.train()
    optimizer, _, _ = build_optimizer(net, {f"lr_{k}": v for k, v in LEARNING_RATES[model_type].items()})
    t = {k: paddle.to_tensor(v) for k, v in batch.items()}

    def step():
        start = time.perf_counter()
        out = net(t["src"], t["bgr"])
        if model_type == "mattingbase":
            loss, _ = base_loss(*out[:3], t["pha"], t["fgr"])
        else:
            loss, _ = refine_loss(*out[:5], t["pha"], t["fgr"])
        float(loss)
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        optimizer.clear_grad()
        return forward - start, backward - forward, time.perf_counter() - backward

    return step


def _torch_sobel(x):
    import torch
    import torch.nn.functional as F

    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    weight = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(x.shape[1], 1, 1, 1)
    g = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), weight, groups=x.shape[1])
    gx, gy = g[:, 0::2], g[:, 1::2]
    return torch.sqrt(gx * gx + gy * gy + 1e-6)


def _torch_step(case, pth, batch):
    import torch
    import torch.nn.functional as F
    from BackgroundMattingV2.model.model import MattingBase, MattingRefine

    backbone, model_type, _, scale, pixels = CASES[case]
    net = (MattingRefine(backbone, scale, "sampling", pixels) if model_type == "mattingrefine"
           else MattingBase(backbone))
    net.load_state_dict(torch.load(pth, map_location="cpu"))
    net.train()
    optimizer = torch.optim.Adam([{"params": getattr(net, k).parameters(), "lr": v}
                                  for k, v in LEARNING_RATES[model_type].items()])
    t = {k: torch.from_numpy(v) for k, v in batch.items()}

    def alpha_fgr(pred_pha, pred_fgr, true_pha, true_fgr):
        mask = true_pha != 0
        return (F.l1_loss(pred_pha, true_pha) + F.l1_loss(_torch_sobel(pred_pha), _torch_sobel(true_pha))
                + F.l1_loss(pred_fgr * mask, true_fgr * mask))

    def step():
        start = time.perf_counter()
        out = net(t["src"], t["bgr"])
        if model_type == "mattingbase":
            pha, fgr, err = out[:3]
            loss = alpha_fgr(pha, fgr, t["pha"], t["fgr"]) + F.mse_loss(err, (pha.detach() - t["pha"]).abs())
        else:
            pha, fgr, pha_sm, fgr_sm, err_sm = out[:5]
            size = pha_sm.shape[2:]
            resize = lambda x, s: F.interpolate(x, s, mode="bilinear", align_corners=False)  # noqa: E731
            true_pha_sm, true_fgr_sm = resize(t["pha"], size), resize(t["fgr"], size)
            full = t["pha"].shape[2:]
            loss = (alpha_fgr(pha, fgr, t["pha"], t["fgr"]) + alpha_fgr(pha_sm, fgr_sm, true_pha_sm, true_fgr_sm)
                    + F.mse_loss(resize(err_sm, full), (resize(pha_sm, full) - t["pha"]).abs()))
        loss.item()
        forward = time.perf_counter()
        loss.backward()
        backward = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        return forward - start, backward - forward, time.perf_counter() - backward

    return step


def worker(args):
    """Time one framework on one case in this process; print a JSON line of per-step part times."""
    if args.framework == "torch":
        import torch
        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
    else:
        import paddle
        paddle.set_device("cpu")
        paddle.seed(0)
    batch = make_batch(args.batch_size, CASES[args.case][2])
    step = (_torch_step(args.case, args.pth, batch) if args.framework == "torch"
            else _paddle_step(args.case, args.pdparams, batch))
    for _ in range(args.warmup):
        step()
    print(json.dumps({"parts": [step() for _ in range(args.steps)]}))


def prepare_weights(case, folder):
    """Seeded reference weights as .pth and, through our converter, .pdparams."""
    from tests.helpers.reference_checkpoint import ensure_reference_weights

    backbone, model_type = CASES[case][:2]
    return ensure_reference_weights(folder, backbone, refine=model_type == "mattingrefine")


def run_worker(case, framework, pth, pdparams, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    cmd = [sys.executable, "-m", __spec__.name, "--worker", "--case", case, "--framework", framework,
           "--pth", pth, "--pdparams", pdparams, "--threads", str(args.threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size)]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{framework} on {case} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["parts"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["mnv2-base", "mnv2-refine"], choices=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--weights-dir", help="keep the generated weights here (default: a temporary folder)")
    # Internal: one measurement in a subprocess.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--pth", help=argparse.SUPPRESS)
    parser.add_argument("--pdparams", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    folder = args.weights_dir or tempfile.mkdtemp(prefix="bench_train_")
    os.makedirs(folder, exist_ok=True)
    print(f"train step, batch {args.batch_size}, {args.threads} threads, median of {args.steps} steps "
          f"after {args.warmup} warm-up (seconds)")
    header = "| case | crop | framework | step | forward+loss | backward | optimizer | ratio to torch |"
    print(header + "\n" + "|---" * 8 + "|")
    for case in args.cases:
        pth, pdparams = prepare_weights(case, folder)
        medians = {}
        for framework in ("torch", "paddle"):
            parts = np.array(run_worker(case, framework, pth, pdparams, args))
            medians[framework] = (np.median(parts.sum(axis=1)), *np.median(parts, axis=0))
        side = CASES[case][2]
        for framework in ("torch", "paddle"):
            total, fwd, bwd, opt = medians[framework]
            ratio = total / medians["torch"][0]
            print(f"| {case} | {side}x{side} | {framework} | {total:.3f} | {fwd:.3f} | {bwd:.3f} | {opt:.3f} | "
                  f"{ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
