"""Adam with one learning rate per module group, as the reference scripts."""
import paddle

__all__ = ["GROUPS", "build_optimizer"]

GROUPS = ("backbone", "aspp", "decoder", "refiner")


def build_optimizer(net, optim_cfg, total_steps=None):
    """Adam over ``net.backbone``, ``net.aspp``, ``net.decoder`` (and ``net.refiner``) parameters.

    ``optim_cfg``: {"lr_backbone", "lr_aspp", "lr_decoder", ["lr_refiner"], "warmup_steps", "decay"};
    ``total_steps``: the step at which training ends, where the cosine decay reaches 0 (needed only
    with ``decay: cosine``). Paddle multiplies a group's ``learning_rate`` with the optimizer's,
    so the optimizer's is a factor in [0, 1]: 1 (the reference), or a linear warm-up from 0 over
    ``warmup_steps`` followed by a constant 1 or a cosine decay to 0.
    A rate of 0 freezes the module: its parameters get no gradients, so a refine run that trains
    only the refiner does not backpropagate through the base network (its BatchNorm statistics
    still follow the training batches, as with any rate).
    Returns (optimizer, {group: lr}, scheduler to ``step()`` after each step, or None).
    """
    groups, rates = [], {}
    for name in GROUPS:
        if not hasattr(net, name):
            continue
        rates[name] = float(optim_cfg[f"lr_{name}"])
        params = getattr(net, name).parameters()
        if rates[name]:
            groups.append({"params": params, "learning_rate": rates[name]})
        else:
            for p in params:
                p.stop_gradient = True
    warmup = int(optim_cfg.get("warmup_steps", 0))
    factor = 1.0
    if optim_cfg.get("decay", "none") == "cosine":
        if total_steps is None:
            raise ValueError("build_optimizer: decay 'cosine' needs total_steps")
        factor = paddle.optimizer.lr.CosineAnnealingDecay(1.0, T_max=max(1, total_steps - warmup))
    if warmup:
        factor = paddle.optimizer.lr.LinearWarmup(factor, warmup, 0.0, 1.0)
    scheduler = factor if isinstance(factor, paddle.optimizer.lr.LRScheduler) else None
    return paddle.optimizer.Adam(learning_rate=factor, parameters=groups), rates, scheduler
