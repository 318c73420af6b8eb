"""Adam with one learning rate per module group, as the reference scripts."""
import paddle

__all__ = ["GROUPS", "build_optimizer"]

GROUPS = ("backbone", "aspp", "decoder", "refiner")


def build_optimizer(net, optim_cfg):
    """Adam over ``net.backbone``, ``net.aspp``, ``net.decoder`` (and ``net.refiner``) parameters.

    ``optim_cfg``: {"lr_backbone", "lr_aspp", "lr_decoder", ["lr_refiner"], ["warmup_steps"]}. Paddle
    multiplies a group's ``learning_rate`` with the optimizer's, so the optimizer's is 1 (or a
    linear warm-up from 0 to 1 over ``warmup_steps``) and each group's is its own rate.
    Returns (optimizer, {group: lr}, warm-up scheduler to ``step()`` after each step, or None).
    """
    groups, rates = [], {}
    for name in GROUPS:
        if not hasattr(net, name):
            continue
        rates[name] = float(optim_cfg[f"lr_{name}"])
        groups.append({"params": getattr(net, name).parameters(), "learning_rate": rates[name]})
    warmup = int(optim_cfg.get("warmup_steps", 0))
    scale = paddle.optimizer.lr.LinearWarmup(1.0, warmup, 0.0, 1.0) if warmup else 1.0
    return paddle.optimizer.Adam(learning_rate=scale, parameters=groups), rates, scale if warmup else None
