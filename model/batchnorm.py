"""BatchNorm layers whose running variance follows the reference (torch).

In training, torch normalises with the biased batch variance (divided by N) but updates
``running_var`` with the unbiased one (divided by N - 1), N being the number of values per channel
in the batch (the whole global batch for synchronised BatchNorm). Paddle's CPU kernel and its
synchronised kernel update with the biased one; its cuDNN path (GPU, 4-D input) already uses the
unbiased one, like cuDNN itself. The layers here keep Paddle's fused kernels for the forward pass
and the gradients, then redo the running-variance update from the batch variance that the kernel
saved (every kernel saves ``1 / sqrt(var_b + eps)``), whichever update the kernel made:

    running_var = momentum * old + (1 - momentum) * var_b * N / (N - 1)

Evaluation (and so every exported inference program) runs Paddle's layer unchanged. The running
mean, weight, bias and state-dict keys (``weight``, ``bias``, ``_mean``, ``_variance``) are Paddle's.
With N = 1 the unbiased variance is undefined (torch refuses such a batch): the kernel's update is kept.
"""
import math

import paddle
import paddle.distributed as dist
import paddle.nn as nn
from paddle import _C_ops

__all__ = ["BatchNorm2D", "SyncBatchNorm", "convert_sync_batchnorm"]


def _values_per_channel(x, data_format):
    """N: values per channel of x (B, C, H, W) or (B, H, W, C); an int in dygraph, a tensor when tracing."""
    axis = 1 if data_format.startswith("NC") else -1
    if paddle.in_dynamic_mode():
        return math.prod(x.shape) // x.shape[axis]
    return paddle.numel(x) // paddle.shape(x)[axis]


def _unbiased_running_variance(layer, fused_op, x, count=None):
    """Run ``fused_op`` (batch_norm or sync_batch_norm) in training mode on x and return its output,
    leaving in ``layer._variance`` the update with the unbiased batch variance.

    x: (B, C, H, W) (or NHWC); count: N where it is not x's own (synchronised BatchNorm), an int or
    a 0-D tensor. Returns (B, C, H, W)."""
    # The kernel updates a copy: the backward node keeps its variance input, which must not change after.
    kernel_var = layer._variance.detach().clone()
    out, _, _, _, inv_std, _ = fused_op(x, layer._mean, kernel_var, layer.weight, layer.bias, False,
                                        layer._momentum, layer._epsilon, layer._data_format, False, False)
    if count is None:
        count = _values_per_channel(x, layer._data_format)
    if isinstance(count, int) and count < 2:
        paddle.assign(kernel_var, layer._variance)
        return out
    # In float32 (the statistics' dtype) even under AMP; the update is not part of the graph.
    with paddle.no_grad(), paddle.amp.auto_cast(enable=False):
        batch_var = 1.0 / (inv_std * inv_std) - layer._epsilon
        if isinstance(count, int):
            scale = count / (count - 1)
        else:  # traced or all-reduced N, a tensor
            count = count.astype(batch_var.dtype)
            scale = count / paddle.maximum(count - 1, paddle.ones_like(count))
        # Paddle's momentum is the weight of the old value (torch's momentum is 1 - it).
        update = layer._momentum * layer._variance + (1.0 - layer._momentum) * (batch_var * scale)
        if not isinstance(count, int):
            update = paddle.where(count > 1, update, kernel_var)
        paddle.assign(update, layer._variance)
    return out


class BatchNorm2D(nn.BatchNorm2D):
    """paddle.nn.BatchNorm2D whose training forward updates the running variance with the unbiased
    batch variance, as torch's BatchNorm2d. Same arguments, parameters and outputs.

    Input: x (B, C, H, W). Output: (B, C, H, W), normalised with the biased batch variance in
    training and with the running statistics in evaluation.
    """

    def forward(self, x):
        if not self.training or self._use_global_stats:
            return super().forward(x)
        self._check_data_format(self._data_format)
        self._check_input_dim(x)
        return _unbiased_running_variance(self, _C_ops.batch_norm if paddle.in_dynamic_mode() else _C_ops.batch_norm_,
                                          x)


class SyncBatchNorm(nn.SyncBatchNorm):
    """paddle.nn.SyncBatchNorm (statistics over the batches of all processes) whose training forward
    updates the running variance with the unbiased variance of the global batch: N is the sum of
    every process's values per channel (all-reduced, so processes may hold different counts, as the
    refiner's patch batches do).

    Input: x (B, C, H, W). Output: (B, C, H, W).
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        self._check_data_format()
        count = _values_per_channel(x, self._data_format)
        if dist.is_initialized() and dist.get_world_size() > 1:
            count = paddle.to_tensor(count, dtype="float64") if isinstance(count, int) else count.astype("float64")
            dist.all_reduce(count)
        return _unbiased_running_variance(self, _C_ops.sync_batch_norm_, x, count)


def convert_sync_batchnorm(layer):
    """paddle.nn.SyncBatchNorm.convert_sync_batchnorm for our BatchNorm2D: every BatchNorm2D in
    ``layer`` becomes a SyncBatchNorm above, sharing its parameters and statistics (same state-dict
    keys). Paddle's own converter would produce paddle.nn.SyncBatchNorm and lose the correction.
    Returns the converted layer (``layer`` itself unless it is a BatchNorm2D)."""
    if isinstance(layer, nn.BatchNorm2D):
        sync = SyncBatchNorm(layer._num_features, layer._momentum, layer._epsilon, layer._weight_attr,
                             layer._bias_attr, layer._data_format, layer._name)
        for name in ("weight", "bias", "_mean", "_variance"):
            setattr(sync, name, getattr(layer, name))
        sync.training = layer.training
        return sync
    for name, child in layer.named_children():
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            layer.add_sublayer(name, converted)
    return layer
