"""Adam with one learning rate per module group, as the reference scripts."""
import paddle

__all__ = ["GROUPS", "build_optimizer"]

GROUPS = ("backbone", "aspp", "decoder", "refiner")


def build_optimizer(net, optim_cfg):
    """Adam over ``net.backbone``, ``net.aspp``, ``net.decoder`` (and ``net.refiner``) parameters.

    ``optim_cfg``: {"lr_backbone", "lr_aspp", "lr_decoder", ["lr_refiner"]}. Paddle multiplies a
    group's ``learning_rate`` with the optimizer's, so the optimizer's is 1 and each group's is its
    own rate. Returns (optimizer, {group: lr}).
    """
    groups, rates = [], {}
    for name in GROUPS:
        if not hasattr(net, name):
            continue
        rates[name] = float(optim_cfg[f"lr_{name}"])
        groups.append({"params": getattr(net, name).parameters(), "learning_rate": rates[name]})
    return paddle.optimizer.Adam(learning_rate=1.0, parameters=groups), rates
