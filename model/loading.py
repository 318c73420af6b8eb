"""Load checkpoints (.pdparams, or official .pth converted on the fly)."""
import os

import numpy as np
import paddle

from .safe_pickle import load_paddle_file
from .torch_weights import CheckpointError, convert_state_dict, detect_backbone, load_torch_state_dict


__all__ = ["read_state_dict", "load_checkpoint", "load_model", "checkpoint_info", "state_info", "non_finite_keys",
           "check_finite_state"]


def non_finite_keys(state):
    """Keys of ``state`` ({name: paddle Tensor or ndarray}) whose floating-point values include NaN or
    inf, in the dict's order. Tensors are checked where they live, with one device sync in all."""
    bad, keys, flags = set(), [], []
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                bad.add(key)
        elif isinstance(value, paddle.Tensor) and value.is_floating_point():
            keys.append(key)
            flags.append(paddle.isfinite(value).all())
    if flags:
        finite = paddle.stack(flags).numpy()
        bad.update(k for k, ok in zip(keys, finite) if not ok)
    return [k for k in state if k in bad]


def check_finite_state(state, path):
    """Raise CheckpointError naming ``path`` and a key when ``state`` holds NaN or infinite weights."""
    bad = non_finite_keys(state)
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} of {len(state)} tensors hold NaN or infinite values (first: "
                              f"'{bad[0]}'); these weights are unusable (a diverged training run?)")

def read_state_dict(path):
    """{name: tensor or array} from a .pdparams file, or from an official .pth (converted, torch not needed)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.endswith(".pth"):
        return convert_state_dict(load_torch_state_dict(path))[0]
    state = load_paddle_file(path)  # not paddle.load: that would run any code pickled in the file
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def checkpoint_info(path):
    """{"backbone", "model_type", "refine_kernel_size"} of a checkpoint file (see ``state_info``)."""
    return state_info(read_state_dict(path))


def state_info(state):
    """{"backbone", "model_type", "refine_kernel_size"} of a state dict, from its keys and shapes."""
    kernel = state["refiner.conv1.weight"].shape[-1] if "refiner.conv1.weight" in state else None
    return {"backbone": detect_backbone(state), "model_type": "mattingbase" if kernel is None else "mattingrefine",
            "refine_kernel_size": kernel}


def load_checkpoint(net, path, strict=True, state=None):
    """Load the weights of the checkpoint ``path`` into ``net``.

    state: the file's state dict when the caller has read it already (``read_state_dict``); the
        file is then not read again and ``path`` only names it in messages.

    strict=True: every parameter of ``net`` must be in the checkpoint with the same shape and
    nothing else may be there; otherwise CheckpointError names the keys (and the backbones when
    they differ). strict=False: load what matches (e.g. a base checkpoint into a refine model, or
    an official checkpoint to fine-tune) and return a report of what did not.

    Returns {"loaded": int, "missing": [...], "unexpected": [...], "mismatched": [...]}.
    """
    if state is None:
        state = read_state_dict(path)
    check_finite_state(state, path)  # NaN weights would run, and write all-zero alpha
    own = net.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted(k for k in own if k in state and list(state[k].shape) != list(own[k].shape))
    report = {"missing": missing, "unexpected": unexpected, "mismatched": mismatched}
    if strict and (missing or unexpected or mismatched):
        ours = getattr(net, "backbone_name", "?")
        try:
            theirs = detect_backbone(state)
        except CheckpointError:
            theirs = "unknown"
        hint = f" (checkpoint backbone {theirs!r}, model backbone {ours!r})" if theirs != ours else ""
        details = "; ".join(f"{len(v)} {k}: {', '.join(v[:5])}{' ...' if len(v) > 5 else ''}"
                            for k, v in report.items() if v)
        raise CheckpointError(f"{path} does not fit the model{hint}: {details}")
    matched = {k: state[k] for k in own if k in state and k not in mismatched}
    net.set_state_dict(matched)
    report["loaded"] = len(matched)
    return report


def load_model(path, options=None, **overrides):
    """(net in eval mode, its ModelOptions) of the checkpoint ``path``, read once and loaded strictly.

    options: ModelOptions; default: backbone, model type and refiner kernel from the checkpoint,
    the rest ModelOptions' defaults replaced by ``overrides`` (None values are ignored).
    """
    from .options import ModelOptions
    state = read_state_dict(path)
    options = options or ModelOptions.from_info(state_info(state), **overrides)
    net = options.build()
    load_checkpoint(net, path, strict=True, state=state)
    return net, options
