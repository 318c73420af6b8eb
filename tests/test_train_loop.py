"""Training loop end to end on a tiny synthetic dataset: steps, checkpoints, exact resume, errors."""
import math
import os
import signal

import numpy as np
import paddle
import pytest

from dataset.synthetic import write_synthetic_dataset
from training.checkpoint import CheckpointManager
from training.config import ConfigError, load_config
from training.data import SeededBatchSampler, crop_size, random_crop
from training.trainer import NonFiniteLossError, Trainer, TrainingInterrupted


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(str(out), size=(64, 64), seed=0, train_clips=2, frames_per_clip=3, valid=2,
                            photo_train=2, test=2, backgrounds=3, valid_backgrounds=2)
    return os.path.join(str(out), "datasets.yaml")


def _cfg(data, work_dir, model_type="mattingbase", name="run", changes=None):
    overrides = {("dataset", "paths"): data, ("dataset", "size"): 64, ("dataset", "crop_min"): 48,
                 ("dataset", "crop_max"): 64, ("dataset", "valid_samples"): 2, ("model", "backbone"): "mobilenetv2",
                 ("train", "batch_size"): 2, ("train", "num_workers"): 0, ("train", "epoch_end"): 4,
                 (None, "work_dir"): str(work_dir), (None, "name"): name, ("log", "valid_interval"): 100,
                 ("checkpoint", "interval"): 100, (None, "device"): "cpu"}
    if model_type == "mattingrefine":
        overrides.update({("refine", "backbone_scale"): 0.5, ("refine", "sample_pixels"): 256})
    overrides.update(changes or {})
    return load_config(model_type, None, overrides)


def _quiet(*args, **kwargs):
    pass


def _weights(path):
    return {k: np.asarray(v) for k, v in paddle.load(path).items()}


def test_resume_gives_the_same_losses_and_weights_as_an_uninterrupted_run(data, tmp_path):
    warm = {("optim", "warmup_steps"): 3}  # the warm-up schedule must resume too
    def cfg(name, steps):
        return _cfg(data, tmp_path, name=name, changes={("train", "max_steps"): steps, **warm})

    full = Trainer("mattingbase", cfg("full", 5), log=_quiet)
    full.run()
    part = Trainer("mattingbase", cfg("part", 2), log=_quiet)
    part.run()
    # 3 train samples, batch 2: 1 step per epoch, so the resumed run also crosses epochs
    rest = Trainer("mattingbase", cfg("part", 5), resume=True, log=_quiet)
    assert rest.step == 2
    rest.run()
    assert [s for s, _ in full.history] == [0, 1, 2, 3, 4]
    assert part.history + rest.history == full.history
    a = _weights(os.path.join(tmp_path, "full", "checkpoints", "final.pdparams"))
    b = _weights(os.path.join(tmp_path, "part", "checkpoints", "final.pdparams"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class _RecordingTrainer(Trainer):
    """Records the learning-rate factor of each step; sends itself Ctrl-C after step ``interrupt_after``."""
    interrupt_after = None

    def train_step(self, batch):
        self.factors = getattr(self, "factors", []) + [self.optimizer.get_lr()]
        result = super().train_step(batch)
        if self.step + 1 == self.interrupt_after:
            os.kill(os.getpid(), signal.SIGINT)
        return result


def test_cosine_decay_follows_the_warm_up_and_resumes_exactly_after_ctrl_c(data, tmp_path):
    changes = {("train", "max_steps"): 6, ("optim", "warmup_steps"): 2, ("optim", "decay"): "cosine"}
    full = _RecordingTrainer("mattingbase", _cfg(data, tmp_path, name="full", changes=changes), log=_quiet)
    full.run()
    # linear warm-up from 0 over 2 steps, then a cosine from 1 down to 0 over the remaining 4
    expected = [0.0, 0.5] + [0.5 * (1 + math.cos(math.pi * i / 4)) for i in range(4)]
    assert np.allclose(full.factors, expected)

    part = _RecordingTrainer("mattingbase", _cfg(data, tmp_path, name="part", changes=changes), log=_quiet)
    part.interrupt_after = 3
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3"):
        part.run()
    rest = _RecordingTrainer("mattingbase", _cfg(data, tmp_path, name="part", changes=changes), resume=True, log=_quiet)
    assert rest.step == 3
    rest.run()
    assert np.allclose(part.factors + rest.factors, expected)
    assert part.history + rest.history == full.history


def test_checkpoints_kept_pruned_and_complete(data, tmp_path):
    cfg = _cfg(data, tmp_path, changes={("train", "max_steps"): 4, ("checkpoint", "interval"): 1,
                                  ("checkpoint", "keep_last"): 2, ("log", "valid_interval"): 2})
    Trainer("mattingbase", cfg, log=_quiet).run()
    folder = os.path.join(tmp_path, "run", "checkpoints")
    names = sorted(os.listdir(folder))
    assert names == ["best.pdparams", "final.pdparams"] + [f"step-000000{s}.{e}" for s in (3, 4)
                                                             for e in ("pdopt", "pdparams", "pdstate")]
    state = paddle.load(os.path.join(folder, "step-0000004.pdstate"))
    assert state["step"] == 4 and state["seed"] == 0 and np.isfinite(state["best_sad"])
    # a crash while writing step 5 (state file missing) leaves step 4 the latest
    manager = CheckpointManager(folder)
    for ext in ("pdparams", "pdopt"):
        with open(manager.path(5, ext), "wb") as f:
            f.write(b"partial")
    assert manager.latest() == 4


def test_refusing_to_overwrite_and_resume_without_checkpoint(data, tmp_path):
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        Trainer("mattingbase", _cfg(data, tmp_path), resume=True, log=_quiet)
    Trainer("mattingbase", _cfg(data, tmp_path, changes={("train", "max_steps"): 1}), log=_quiet).run()
    with pytest.raises(ConfigError, match="already holds checkpoints.*--resume.*--overwrite"):
        Trainer("mattingbase", _cfg(data, tmp_path), log=_quiet)
    trainer = Trainer("mattingbase", _cfg(data, tmp_path), overwrite=True, log=_quiet)
    assert trainer.step == 0 and CheckpointManager(trainer.checkpoints.folder).latest() is None


def test_refine_starts_from_a_base_checkpoint_and_reports_unmatched_keys(data, tmp_path):
    Trainer("mattingbase", _cfg(data, tmp_path, name="base", changes={("train", "max_steps"): 1}), log=_quiet).run()
    base_final = os.path.join(tmp_path, "base", "checkpoints", "final.pdparams")
    lines = []
    cfg = _cfg(data, tmp_path, model_type="mattingrefine", name="refine",
               changes={("train", "max_steps"): 1, ("model", "last_checkpoint"): base_final})
    trainer = Trainer("mattingrefine", cfg, log=lines.append)
    assert any("missing" in line and "refiner." in line for line in lines)
    loaded = trainer.net.state_dict()
    base = _weights(base_final)
    assert all(np.array_equal(loaded[k].numpy(), base[k]) for k in base)
    trainer.run()
    assert os.path.isfile(os.path.join(tmp_path, "refine", "checkpoints", "final.pdparams"))


def test_checkpoint_of_another_backbone_is_rejected_before_training(data, tmp_path):
    Trainer("mattingbase", _cfg(data, tmp_path, name="mnv2", changes={("train", "max_steps"): 1}), log=_quiet).run()
    path = os.path.join(tmp_path, "mnv2", "checkpoints", "final.pdparams")
    cfg = _cfg(data, tmp_path, name="r50", changes={("model", "backbone"): "resnet50",
                                               ("model", "last_checkpoint"): path})
    with pytest.raises(ConfigError, match="holds a mobilenetv2 model but 'model.backbone' is resnet50"):
        Trainer("mattingbase", cfg, log=_quiet)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path):
    cfg = _cfg(data, tmp_path, changes={("train", "max_steps"): 3, ("checkpoint", "interval"): 1})
    trainer = Trainer("mattingbase", cfg, log=_quiet)
    trainer.run()
    cfg = _cfg(data, tmp_path, changes={("train", "max_steps"): 6, ("checkpoint", "interval"): 1})
    trainer = Trainer("mattingbase", cfg, resume=True, log=_quiet)
    trainer.net.decoder.conv4.weight.set_value(paddle.full_like(trainer.net.decoder.conv4.weight, float("nan")))
    with pytest.raises(NonFiniteLossError, match=r"not finite at step 3 .*step-0000003.pdparams.*--resume"):
        trainer.run()
    assert trainer.checkpoints.latest() == 3
    good = _weights(trainer.checkpoints.path(3, "pdparams"))
    assert all(np.isfinite(v).all() for v in good.values())


def test_per_module_learning_rates(data, tmp_path):
    cfg = _cfg(data, tmp_path, model_type="mattingrefine", changes={("train", "max_steps"): 1, ("optim", "lr_backbone"): 1e-4,
                                                 ("optim", "lr_aspp"): 2e-4, ("optim", "lr_decoder"): 4e-4,
                                                 ("optim", "lr_refiner"): 8e-4})
    trainer = Trainer("mattingrefine", cfg, log=_quiet)
    before = {k: v.numpy().copy() for k, v in trainer.net.named_parameters() if v.trainable}
    trainer.run()
    # Adam's first step moves every parameter with a clear gradient by about its learning rate
    for group, lr in (("backbone", 1e-4), ("aspp", 2e-4), ("decoder", 4e-4), ("refiner", 8e-4)):
        moved = max(np.abs(p.numpy() - before[k]).max() for k, p in trainer.net.named_parameters()
                    if k in before and k.startswith(group + "."))
        assert lr * 0.9 < moved <= lr * 1.01, group


def test_zero_learning_rate_freezes_a_module_without_gradients(data, tmp_path):
    cfg = _cfg(data, tmp_path, model_type="mattingrefine", changes={("train", "max_steps"): 2, ("optim", "lr_backbone"): 0.0,
                                                 ("optim", "lr_aspp"): 0.0, ("optim", "lr_decoder"): 0.0})
    trainer = Trainer("mattingrefine", cfg, log=_quiet)
    before = {k: v.numpy().copy() for k, v in trainer.net.named_parameters()}
    trainer.run()
    after = dict(trainer.net.named_parameters())
    for k, p in after.items():
        if k.endswith(("_mean", "_variance")):  # BatchNorm statistics follow the batches in any case
            continue
        if k.startswith("refiner."):
            assert not p.stop_gradient, k
        else:
            assert p.grad is None and np.array_equal(p.numpy(), before[k]), k
    assert all(not np.array_equal(p.numpy(), before[k]) for k, p in after.items()
               if k.startswith("refiner.") and k.endswith("weight"))
    # the frozen groups are not in the optimizer, so resuming restores the same state
    resumed = Trainer("mattingrefine", _cfg(data, tmp_path, model_type="mattingrefine", changes={("train", "max_steps"): 3,
                                                                            ("optim", "lr_backbone"): 0.0,
                                                                            ("optim", "lr_aspp"): 0.0,
                                                                            ("optim", "lr_decoder"): 0.0}),
                      resume=True, log=_quiet)
    assert resumed.step == 2
    resumed.run()


def test_sampler_splits_each_epoch_between_processes_by_seed():
    dataset = list(range(10))
    epochs = {}
    for epoch in (0, 1):
        seen = []
        for rank in (0, 1):
            sampler = SeededBatchSampler(dataset, 2, num_replicas=2, rank=rank, seed=7)
            sampler.set_epoch(epoch)
            seen += [i for batch in sampler for i in batch]
        assert sorted(seen) == list(range(8)) or len(set(seen)) == 8  # last incomplete batch dropped
        epochs[epoch] = seen
    assert epochs[0] != epochs[1]
    sampler = SeededBatchSampler(dataset, 2, num_replicas=1, rank=0, seed=7)
    sampler.set_epoch(1)
    full = list(sampler)
    sampler.set_epoch(1, skip=2)
    assert list(sampler) == full[2:]


def test_random_crop_sizes_and_shapes():
    rng = np.random.default_rng(0)
    sizes = [crop_size("mattingrefine", 1024, 2048, rng) for _ in range(50)]
    assert all(h % 4 == 0 and w % 4 == 0 and 1024 <= h < 2048 and 1024 <= w < 2048 for h, w in sizes)
    x = paddle.rand([2, 3, 40, 60])
    (a,) = random_crop("mattingrefine", [x], (20, 24))
    assert a.shape == [2, 3, 20, 24]
    (b,) = random_crop("mattingbase", [x], (30, 20))
    assert b.shape == [2, 3, 30, 20]
