"""Build the official PyTorch BGMv2 model with seeded, well-conditioned random weights.

Used by the parity tests and the side-by-side benchmarks (the real weights can't be downloaded
here). Random BatchNorm statistics make activations explode, so the statistics are calibrated:
BN affine parameters are randomised first, then each BN's running mean/var are set to the real
statistics of its input on random images (cumulative average in train mode, dropout off), and
the last BN of every residual branch gets a small gamma so deep stacks stay in a sane range.
The output convolutions are rescaled so alpha and error maps are fractional, not all 0 or 1.

    python -m tests.helpers.reference_checkpoint --backbone mobilenetv2 --output ref.pth

Needs torch and ``backgroundmattingv2==1.0`` (requirements-test.txt).
"""
import argparse

import numpy as np
import torch
from torch import nn


def _residual_branch_last_bns(model):
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.models.resnet import Bottleneck

    for module in model.modules():
        if isinstance(module, Bottleneck):
            yield module.bn3
        elif isinstance(module, InvertedResidual) and module.use_res_connect:
            yield module.conv[-1]


def calibration_inputs(batch, height, width, seed):
    """Smooth random src/bgr pairs in [0, 1]: bgr is noise-textured, src has a soft blob pasted on it."""
    rng = np.random.default_rng(seed)
    bgr = rng.random((batch, 3, height // 8, width // 8), dtype=np.float32)
    bgr = np.kron(bgr, np.ones((1, 1, 8, 8), np.float32)) * 0.7 + 0.3 * rng.random((batch, 3, height, width),
                                                                                      dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    src = bgr.copy()
    for i in range(batch):
        cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
        r = rng.uniform(0.15, 0.35) * min(height, width)
        alpha = np.clip((r - np.hypot(yy - cy, xx - cx)) / 6.0, 0, 1)
        color = rng.random((3, 1, 1), dtype=np.float32)
        src[i] = alpha * color + (1 - alpha) * bgr[i]
    return src.astype(np.float32), bgr.astype(np.float32)


@torch.no_grad()
def _rescale_output(conv, out, targets):
    """Affine-rescale output channels of `conv` so channel c has mean/std targets[c] on `out`."""
    for c, (mean, std) in targets.items():
        cur_mean, cur_std = out[:, c].mean().item(), out[:, c].std().item() + 1e-8
        conv.weight[c] *= std / cur_std
        conv.bias[c] = (conv.bias[c] - cur_mean) * std / cur_std + mean


@torch.no_grad()
def build_reference_model(backbone, refine=True, seed=0, size=(256, 320), **refine_kwargs):
    """The official model (MattingRefine, or MattingBase if not refine) with calibrated random weights, eval mode."""
    from BackgroundMattingV2.model.model import MattingBase, MattingRefine

    torch.manual_seed(seed)
    model = MattingRefine(backbone, **refine_kwargs) if refine else MattingBase(backbone)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    for bn in _residual_branch_last_bns(model):
        bn.weight.uniform_(0.05, 0.2)

    src, bgr = (torch.from_numpy(a) for a in calibration_inputs(4, *size, seed=seed + 1))
    mode = model.refiner.mode if refine else None
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    if refine:
        model.refiner.mode = "full"  # statistics over every pixel, not a selection
    for i in range(2):
        model(src[2 * i:2 * i + 2], bgr[2 * i:2 * i + 2])
    for bn in bns:
        bn.momentum = 0.1
    model.eval()

    # Fractional alpha around 0.5 and errors mostly inside (0, 1) so that selections are not all ties.
    if refine:
        x = torch.cat([nn.functional.interpolate(t, scale_factor=model.backbone_scale, mode="bilinear",
                                                 align_corners=False, recompute_scale_factor=True)
                       for t in (src, bgr)], dim=1)
    else:
        x = torch.cat([src, bgr], dim=1)
    _rescale_output(model.decoder.conv4, super(MattingBase, model).forward(x),
                    {0: (0.5, 0.35), 4: (0.3, 0.2)})
    if refine:
        captured = []
        hook = model.refiner.conv4.register_forward_hook(lambda m, i, o: captured.append(o.clone()))
        model(src, bgr)  # still in full mode: the refiner sees every pixel
        hook.remove()
        _rescale_output(model.refiner.conv4, captured[0], {0: (0.5, 0.35)})
        model.refiner.mode = mode
    return model


def save_reference_checkpoint(path, backbone, refine=True, seed=0):
    model = build_reference_model(backbone, refine=refine, seed=seed)
    torch.save(model.state_dict(), path)
    return model


def ensure_reference_weights(folder, backbone, refine=True, seed=0):
    """Seeded reference weights in ``folder`` as .pth and, through our converter, .pdparams (made once).
    Returns (pth, pdparams)."""
    import os

    from model.torch_weights import convert_checkpoint

    pth = os.path.join(folder, f"{backbone}_{'mattingrefine' if refine else 'mattingbase'}.pth")
    pdparams = pth[:-4] + ".pdparams"
    if not os.path.exists(pdparams):
        save_reference_checkpoint(pth, backbone, refine=refine, seed=seed)
        convert_checkpoint(pth, pdparams)
    return pth, pdparams


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv2", choices=["resnet50", "resnet101", "mobilenetv2"])
    parser.add_argument("--base-only", action="store_true", help="a MattingBase checkpoint (no refiner)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    save_reference_checkpoint(args.output, args.backbone, refine=not args.base_only, seed=args.seed)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()


def train_without_dropout(ref, net):
    """Put the reference (torch) and our (paddle) model in training mode with Dropout off: its random
    masks cannot match between frameworks, everything else (BatchNorm batch statistics) must."""
    import paddle

    ref.train()
    net.train()
    for m in ref.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    for m in net.sublayers():
        if isinstance(m, paddle.nn.Dropout):
            m.eval()
