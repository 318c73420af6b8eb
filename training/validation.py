"""Validation on the fixed subset: mean loss and the official SAD / MSE of the alpha."""
import paddle

from dataset.trimap import make_trimap
from evaluation.metrics import mse, sad, to_uint8

__all__ = ["validate"]


def validate(net, loader, compute_loss):
    """Evaluate ``net`` (switched to eval mode and back) on every batch of ``loader``.

    Args:
        net: MattingBase or MattingRefine (not wrapped in DataParallel).
        loader: yields ((pha, fgr), bgr) batches, float32 (B, C, H, W) in [0, 1].
        compute_loss: (outputs, true_pha, true_fgr) -> (loss, terms).
    Returns: {"loss", "sad", "mse"} averaged over samples; SAD/MSE in the official raw units
    (SAD in thousands) over the unknown region of the paper's trimap of the true alpha.
    """
    net.eval()
    totals = {"loss": 0.0, "sad": 0.0, "mse": 0.0}
    count = 0
    with paddle.no_grad():
        for (true_pha, true_fgr), true_bgr in loader:
            true_src = true_pha * true_fgr + (1 - true_pha) * true_bgr
            outputs = net(true_src, true_bgr)
            loss, _ = compute_loss(outputs, true_pha, true_fgr)
            batch = true_pha.shape[0]
            totals["loss"] += float(loss) * batch
            for pred, gt in zip(to_uint8(outputs[0].numpy()[:, 0]), to_uint8(true_pha.numpy()[:, 0])):
                trimap = make_trimap(gt)
                totals["sad"] += sad(pred, gt, trimap)
                totals["mse"] += mse(pred, gt, trimap)
            count += batch
    net.train()
    return {k: v / max(count, 1) for k, v in totals.items()}
