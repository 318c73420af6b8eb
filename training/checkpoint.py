"""Training checkpoints: written atomically, found again for ``--resume``, pruned to the last N.

A checkpoint of step S (S optimizer steps done) in ``DIR`` is three files:

* ``step-SSSSSSS.pdparams``: the model weights (loadable by eval.py / predict.py);
* ``step-SSSSSSS.pdopt``:    Adam state, keyed by the model's parameter names (not Paddle's
  per-process tensor names, so it loads into a freshly built model);
* ``step-SSSSSSS.pdstate``:  {"step", "seed", "scaler", "best_sad", "batch_size"}; the random
  draws of step s are seeded by (seed, s), so step and seed restore the random state.

Each file is written to a temporary name and renamed; the state file is written last and
marks the checkpoint complete, so a crash mid-save leaves the previous checkpoint the latest.
``best.pdparams`` (lowest validation SAD) and ``final.pdparams`` are written the same way.
Weights holding NaN or inf are never written (:class:`NonFiniteWeightsError`), so every
checkpoint here is usable.
"""
import glob
import os
import re

import paddle

from common.atomic import atomic_path
from common.errors import EXIT_FAILURE, BGMv2Error
from model.loading import check_finite_state, non_finite_keys
from model.safe_pickle import CheckpointError, load_paddle_file

__all__ = ["atomic_save", "CheckpointManager", "NonFiniteWeightsError", "optimizer_state", "load_optimizer_state"]


class NonFiniteWeightsError(BGMv2Error, RuntimeError):
    """Weights holding NaN or inf were about to be saved; nothing was written."""
    exit_code = EXIT_FAILURE

_STEP_RE = re.compile(r"step-(\d+)\.pdstate$")


def atomic_save(obj, path):
    """paddle.save to ``path`` atomically (``common.atomic``)."""
    with atomic_path(path) as tmp:
        paddle.save(obj, tmp)


def _param_names(model):
    """{paddle tensor name: structured parameter name} of ``model`` (longest names first)."""
    pairs = [(p.name, k) for k, p in model.named_parameters()]
    return dict(sorted(pairs, key=lambda kv: -len(kv[0])))


def optimizer_state(optimizer, model):
    """Optimizer state dict with accumulator keys renamed from tensor names to structured names."""
    names = _param_names(model)
    out = {}
    for key, value in optimizer.state_dict().items():
        out[_rename(key, names)] = value
    return out


def load_optimizer_state(optimizer, model, state):
    """Inverse of :func:`optimizer_state`: load ``state`` into ``optimizer`` of ``model``."""
    names = {v: k for k, v in _param_names(model).items()}
    names = dict(sorted(names.items(), key=lambda kv: -len(kv[0])))
    optimizer.set_state_dict({_rename(key, names): value for key, value in state.items()})


def _rename(key, names):
    if not isinstance(key, str):
        return key
    for old, new in names.items():
        if key.startswith(old + "_"):
            return new + key[len(old):]
    return key


class CheckpointManager:
    """Saves, finds and prunes the checkpoints of one run in ``folder``.

    Args:
        folder: created when missing.
        keep_last: step checkpoints kept (older ones are deleted after each save).
    """

    def __init__(self, folder, keep_last=3):
        self.folder = folder
        self.keep_last = int(keep_last)
        os.makedirs(folder, exist_ok=True)

    def path(self, step, ext):
        return os.path.join(self.folder, f"step-{step:07d}.{ext}")

    def steps(self):
        """Steps of the complete checkpoints (all three files present), ascending."""
        found = []
        for state in glob.glob(os.path.join(self.folder, "step-*.pdstate")):
            m = _STEP_RE.search(state)
            step = int(m.group(1))
            if all(os.path.isfile(self.path(step, e)) for e in ("pdparams", "pdopt")):
                found.append(step)
        return sorted(found)

    def _finite_weights(self, model, path):
        """model.state_dict(), or NonFiniteWeightsError naming ``path`` when it holds NaN or inf."""
        weights = model.state_dict()
        bad = non_finite_keys(weights)
        if bad:
            raise NonFiniteWeightsError(f"not writing '{path}': {len(bad)} of {len(weights)} tensors hold NaN or "
                                        f"infinite values (first: '{bad[0]}')")
        return weights

    def save(self, step, model, optimizer, state):
        """Write checkpoint ``step`` (model, optimizer, ``state`` dict) atomically; prune old ones.
        Non-finite weights raise NonFiniteWeightsError before anything is written."""
        atomic_save(self._finite_weights(model, self.path(step, "pdparams")), self.path(step, "pdparams"))
        atomic_save(optimizer_state(optimizer, model), self.path(step, "pdopt"))
        atomic_save(dict(state, step=step), self.path(step, "pdstate"))
        for old in self.steps()[:-self.keep_last]:
            for ext in ("pdstate", "pdopt", "pdparams"):  # state first: the checkpoint stops counting
                os.remove(self.path(old, ext))
        return self.path(step, "pdparams")

    def save_weights(self, model, name):
        """Write ``name``.pdparams (e.g. 'best', 'final') atomically; returns its path."""
        path = os.path.join(self.folder, f"{name}.pdparams")
        atomic_save(self._finite_weights(model, path), path)
        return path

    def latest(self):
        """Step of the newest complete checkpoint, or None."""
        steps = self.steps()
        return steps[-1] if steps else None

    def load(self, step, model, optimizer):
        """Restore model and optimizer of checkpoint ``step``; returns its state dict.

        All three files are read and checked (weights finite, state a dict) before anything is
        restored, so a checkpoint that fails leaves model and optimizer as they were.
        """
        weights = load_paddle_file(self.path(step, "pdparams"))
        check_finite_state(weights, self.path(step, "pdparams"))
        moments = load_paddle_file(self.path(step, "pdopt"))
        state = load_paddle_file(self.path(step, "pdstate"))
        if not isinstance(weights, dict) or not isinstance(moments, dict) or not isinstance(state, dict):
            raise CheckpointError(f"checkpoint '{self.path(step, 'pdstate')}' is not one of this trainer's")
        model.set_state_dict(weights)
        load_optimizer_state(optimizer, model, moments)
        return state

    def clear(self):
        """Delete every checkpoint file of this folder (for --overwrite)."""
        for path in glob.glob(os.path.join(self.folder, "*.pd*")):
            os.remove(path)
