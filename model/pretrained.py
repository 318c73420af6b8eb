"""Start a MattingBase / MattingRefine from pretrained weights: DeepLabV3, ImageNet backbones, BGMv2.

Accepted files (read without running code in them, see model/safe_pickle.py):

* VainF/DeepLabV3Plus-Pytorch checkpoints (``best_deeplabv3_{resnet50,resnet101,mobilenet}_voc_os16.pth``):
  {"model_state", "optimizer_state", "scheduler_state", "cur_itrs", "best_score"}, torch zip or
  legacy format. Only ``model_state`` is used; renamed as the reference's
  ``MattingBase.load_pretrained_deeplabv3_state_dict``: ``classifier.classifier.0`` -> ``aspp``, and
  for MobileNetV2 ``backbone.low_level_features.N`` / ``backbone.high_level_features.N`` ->
  ``backbone.features.N`` (slicing an nn.Sequential keeps its children's names: no renumbering);
* ImageNet backbones: torchvision's ``resnet50/101`` / ``mobilenet_v2`` state dicts (``.pth``) and
  Paddle's (``.pdparams`` of ``paddle.vision.models``, or ``paddle:resnet50``, ``paddle:resnet101``,
  ``paddle:mobilenetv2`` to download them with Paddle's helper and checksum); keys get ``backbone.``;
* our own ``.pdparams`` and the authors' BGMv2 ``.pth`` checkpoints.

As the reference's ``load_matched_state_dict``, a tensor is loaded only when its name and shape
match ours: the 6-channel first conv, a classifier head, or a base model's missing refiner keep
their initialisation (see model/init.py), and the report says so.
"""
import os
import zipfile

import numpy as np

from .safe_pickle import CheckpointError, load_paddle_file
from .torch_weights import load_torch_file, rename_key

__all__ = ["load_pretrained", "read_pretrained", "PADDLE_IMAGENET"]

# Paddle's own ImageNet weights: what paddle.vision.models.<name>(pretrained=True) downloads.
PADDLE_IMAGENET = {
    "resnet50": ("https://paddle-hapi.bj.bcebos.com/models/resnet50.pdparams", "ca6f485ee1ab0492d38f323885b0ad80"),
    "resnet101": ("https://paddle-hapi.bj.bcebos.com/models/resnet101.pdparams", "02f35f034ca3858e1e54d4036443c92d"),
    "mobilenetv2": ("https://paddle-hapi.bj.bcebos.com/models/mobilenet_v2_x1.0.pdparams",
                    "0340af0a901346c8d46f4529882fb63d"),
}
_OURS = ("backbone.", "aspp.", "decoder.", "refiner.")
_LEGACY_TORCH_HEAD = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _resolve(path):
    if isinstance(path, str) and path.startswith("paddle:"):
        name = path[len("paddle:"):].replace("mobilenet_v2", "mobilenetv2")
        if name not in PADDLE_IMAGENET:
            raise ValueError(f"unknown Paddle pretrained model {path!r}; known: "
                             + ", ".join(f"paddle:{n}" for n in PADDLE_IMAGENET))
        from paddle.utils.download import get_weights_path_from_url

        return get_weights_path_from_url(*PADDLE_IMAGENET[name])
    return str(path)


def _is_torch_file(path):
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(len(_LEGACY_TORCH_HEAD)) == _LEGACY_TORCH_HEAD


def read_pretrained(path):
    """Read a pretrained file into ({our key: np.ndarray}, source) without loading it anywhere.

    ``source`` is "deeplabv3" (VainF), "imagenet" (a bare backbone) or "bgmv2" (a whole model).
    Keys are already in our naming. Raises FileNotFoundError or CheckpointError.
    """
    path = _resolve(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    wrapped = []
    if _is_torch_file(path):
        def pick(obj):
            # VainF wraps the weights in model_state (beside optimizer/scheduler state, which are
            # unpickled, then dropped here before any of their tensors is read); others are bare.
            for key in ("model_state", "state_dict"):
                if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                    wrapped.append(key)
                    return obj[key]
            return obj

        state = load_torch_file(path, select=pick)
        torch_names = True
    else:
        state = load_paddle_file(path, return_numpy=True)
        torch_names = False
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: expected a dict of weights, got {type(state).__name__}")
    out, source = {}, "bgmv2"
    if wrapped == ["model_state"] or any(str(k).startswith("classifier.classifier.") for k in state):
        source = "deeplabv3"
    elif not any(str(k).startswith(_OURS) for k in state):
        source = "imagenet"
    for key, value in state.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{path}: entry {key!r} is not a tensor ({type(value).__name__})")
        name = rename_key(str(key)) if torch_names else str(key)
        if name is None:
            continue
        if source == "imagenet":
            name = "backbone." + name
        name = name.replace("classifier.classifier.0.", "aspp.")
        for part in ("backbone.low_level_features.", "backbone.high_level_features."):
            if name.startswith(part):
                name = "backbone.features." + name[len(part):]
        out[name] = value
    return out, source


def load_pretrained(net, path):
    """Load every tensor of ``path`` whose (renamed) key and shape match ``net``'s; keep the rest.

    Args:
        net: MattingBase or MattingRefine (any backbone).
        path: a file (see the module docstring) or ``paddle:<resnet50|resnet101|mobilenetv2>``.
    Returns {"source": "deeplabv3" | "imagenet" | "bgmv2", "loaded": [keys], "mismatched":
    [(key, ours, theirs)], "missing": [our keys not in the file], "unused": [file keys we have no
    place for]}. Raises CheckpointError when nothing matches (e.g. a classifier for another task).
    """
    state, source = read_pretrained(path)
    own = net.state_dict()
    loaded, mismatched = [], []
    matched = {}
    for key, param in own.items():
        if key not in state:
            continue
        if tuple(state[key].shape) != tuple(param.shape):
            mismatched.append((key, tuple(param.shape), tuple(state[key].shape)))
            continue
        matched[key] = state[key].astype(str(param.dtype).replace("paddle.", ""), copy=False)
        loaded.append(key)
    if not loaded:
        raise CheckpointError(f"{path}: no tensor matches the model by name and shape "
                              f"({len(state)} in the file, e.g. {next(iter(state))!r})")
    net.set_state_dict({**own, **matched})  # the whole dict: paddle warns about every key left out
    return {"source": source, "loaded": loaded, "mismatched": mismatched,
            "missing": sorted(k for k in own if k not in state),
            "unused": sorted(k for k in state if k not in own)}
