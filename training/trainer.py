"""The training loop shared by train_base.py and train_refine.py.

One :class:`Trainer` per process. Under ``python -m paddle.distributed.launch`` each process
trains on its share of every batch (``paddle.DataParallel`` averages the gradients, so all
processes keep identical weights); only rank 0 validates, logs and writes checkpoints.
"""
import os
import signal
import time

import numpy as np
import paddle
import paddle.distributed as dist
from tqdm import tqdm

from dataset.perturbation import composite, training_perturbations
from common.atomic import check_writable
from common.cpu import use_cpu_threads
from common.errors import EXIT_FAILURE, BGMv2Error, Interrupted
from model.batchnorm import convert_sync_batchnorm
from model.init import init_weights
from model.loading import checkpoint_info, load_checkpoint, non_finite_keys
from model.pretrained import load_pretrained
from model.safe_pickle import CheckpointError
from model.options import build_model
from .losses import base_loss, refine_loss
from .checkpoint import CheckpointManager
from .config import ConfigError, dump_config
from .data import SeededBatchSampler, build_datasets, crop_size, random_crop
from .logger import TrainLogger
from .optim import build_optimizer
from .validation import validate

__all__ = ["Trainer", "NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(BGMv2Error, RuntimeError):
    """The loss or the weights became NaN or infinite; the message names the step and the last checkpoint."""
    exit_code = EXIT_FAILURE


class TrainingInterrupted(Interrupted):
    """Ctrl-C or SIGTERM: the state was saved (message says where) and the run stopped."""


def _select_device(name):
    if name == "auto":
        name = "gpu" if paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else "cpu"
    try:
        return paddle.set_device(name)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"config: 'device' {name!r} is not available here ({e})") from e


def _step_seed(*keys):
    """A 31-bit seed drawn from the integer ``keys`` (e.g. (seed, step, rank))."""
    return int(np.random.default_rng(list(keys)).integers(2 ** 31))


# Where the reference's instructions get stage 1's starting weights (see configs/stage1_base_*.yaml).
DEEPLABV3_SOURCE = ("VainF/DeepLabV3Plus-Pytorch's released Pascal VOC weights "
                    "(https://github.com/VainF/DeepLabV3Plus-Pytorch, README: 'DeepLabV3-ResNet50 / "
                    "ResNet101 / MobileNet', output stride 16)")


def pretrain_path(value):
    """``model.pretrain_initialization`` as a path, or None for null / 'none' (train from scratch on purpose)."""
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    return str(value)


def check_pretrained_file(path, backbone):
    """ConfigError unless ``path`` exists (``paddle:NAME`` is fetched by load_pretrained itself); the
    message says what the file is, where to get it and how to opt out."""
    if path.startswith("paddle:") or os.path.isfile(path):
        return
    name = os.path.basename(path)
    what = (f"the DeepLabV3 weights ({backbone}, Pascal VOC, output stride 16) that the reference's stage 1 "
            f"starts from; get '{name}' from {DEEPLABV3_SOURCE} and put it at '{path}'"
            if name.startswith("best_deeplabv3_") else "the pretrained weights to start from")
    raise ConfigError(f"config: 'model.pretrain_initialization' '{path}' not found. It is {what}, or give another "
                      "file with --model-pretrain-initialization PATH, or train from scratch on purpose with "
                      "--model-pretrain-initialization none")


def _some(keys):
    """The first four of ``keys`` for a log line, with " ..." when there are more."""
    return ", ".join(keys[:4]) + (" ..." if len(keys) > 4 else "")


def pretrained_report(path, report, scheme):
    """One status line of ``load_pretrained``'s report: what was loaded and what was skipped."""
    line = (f"initialised from {path} ({report['source']}): {len(report['loaded'])} tensors loaded; "
            f"{len(report['missing'])} of the model's tensors not in the file keep the {scheme} "
            f"initialisation ({_some(report['missing'])})")
    if report["mismatched"]:
        line += (f"; {len(report['mismatched'])} skipped for their shape ("
                 + _some([f"{k} ours {list(a)} file {list(b)}" for k, a, b in report["mismatched"]]) + ")")
    if report["unused"]:
        line += f"; {len(report['unused'])} in the file unused ({_some(report['unused'])})"
    return line


class Trainer:
    """Builds everything from a validated config, then :meth:`run` trains.

    Args:
        model_type: 'base' (MattingBase) or 'refine' (MattingRefine).
        cfg: config of :func:`model.training.config.load_config`.
        resume: continue from the latest complete checkpoint in WORK_DIR/NAME/checkpoints.
        overwrite: delete that folder's checkpoints and start again.
        log: print function for status lines (rank 0 only).
    """

    def __init__(self, model_type, cfg, resume=False, overwrite=False, log=print):
        self.model_type, self.cfg = model_type, cfg
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        self.log = log if self.rank == 0 else (lambda *a, **k: None)
        if cfg["train"]["batch_size"] % self.world:
            raise ConfigError(f"config: 'train.batch_size' ({cfg['train']['batch_size']}) must be divisible by "
                              f"the number of processes ({self.world})")
        self.run_dir = os.path.join(cfg["work_dir"], cfg["name"])
        check_writable(self.run_dir, "config: 'work_dir'/'name'")
        self.checkpoints = CheckpointManager(os.path.join(self.run_dir, "checkpoints"),
                                             cfg["checkpoint"]["keep_last"])
        self._check_run_dir(resume, overwrite)
        self.place = _select_device(cfg["device"])
        self.on_gpu = "gpu" in str(self.place).lower()
        # CPU processes share the cores (Paddle would use one thread each)
        self.threads = None if self.on_gpu else use_cpu_threads(processes=self.world)
        self.amp = self._amp_enabled()

        paddle.seed(cfg["seed"])  # initial weights (DataParallel then copies rank 0's to every process)
        self.net = self._build_net()
        # BatchNorm across processes: SyncBatchNorm on GPUs (as the reference); on the CPU (gloo, no
        # SyncBatchNorm kernel) rank 0's running statistics are broadcast after each step, like
        # torch DDP's broadcast_buffers, so that all processes keep identical models.
        self.sync_buffers = self.world > 1 and not self.on_gpu
        if self.world > 1:
            dist.init_parallel_env()
            if self.on_gpu:
                self.net = convert_sync_batchnorm(self.net)  # ours: keeps the unbiased running variance
        self.train_set, self.valid_set = build_datasets(cfg)
        per_process = cfg["train"]["batch_size"] // self.world
        self.sampler = SeededBatchSampler(self.train_set, per_process, self.world, self.rank, cfg["seed"])
        if len(self.sampler) == 0:
            raise ConfigError(f"config: 'train.batch_size' {cfg['train']['batch_size']} is larger than the "
                              f"{len(self.train_set)} training samples")
        self.steps_per_epoch = len(self.sampler)
        self.end_step = cfg["train"]["epoch_end"] * self.steps_per_epoch
        if cfg["train"]["max_steps"] is not None:
            self.end_step = min(self.end_step, cfg["train"]["max_steps"])

        self.optimizer, self.learning_rates, self.scheduler = build_optimizer(self.net, cfg["optim"], self.end_step)
        self.scaler = paddle.amp.GradScaler(enable=self.amp)
        self.model = paddle.DataParallel(self.net) if self.world > 1 else self.net
        workers = cfg["train"]["num_workers"]
        self.train_loader = paddle.io.DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=workers)
        self.valid_loader = paddle.io.DataLoader(self.valid_set, batch_size=per_process, num_workers=workers)

        self.step = cfg["train"]["epoch_start"] * self.steps_per_epoch
        self.best_sad = float("inf")
        self.saved_step = self.validated_step = None
        self.history = []  # (step, loss) of the steps run by this process
        if resume:
            self._resume()
        self.writer = TrainLogger(os.path.join(self.run_dir, "vdl")) if self.rank == 0 else None
        if self.rank == 0:
            with open(os.path.join(self.run_dir, "config.yaml"), "w", encoding="utf-8") as f:
                f.write(dump_config(cfg))

    # ------------------------------------------------------------------ setup
    def _check_run_dir(self, resume, overwrite):
        latest = self.checkpoints.latest()
        if resume and latest is None:
            raise ConfigError(f"--resume: no complete checkpoint in '{self.checkpoints.folder}'")
        if not resume and latest is not None:
            if not overwrite:
                raise ConfigError(f"'{self.checkpoints.folder}' already holds checkpoints (up to step {latest}): "
                                  "pass --resume to continue that run, --overwrite to start it again, "
                                  "or choose another --name / --work-dir")
            if self.rank == 0:
                self.checkpoints.clear()

    def _amp_enabled(self):
        amp = self.cfg["amp"]
        if amp is True and not self.on_gpu:
            raise ConfigError("config: 'amp' is true but the device is the CPU (mixed precision is GPU only)")
        return self.on_gpu if amp == "auto" else bool(amp)

    def _build_net(self):
        """The network, initialised by ``model.init`` and then loaded from ``model.last_checkpoint`` or
        ``model.pretrain_initialization`` (before any data is read, so a missing file stops at once)."""
        m, r = self.cfg["model"], self.cfg.get("refine")
        if self.model_type == "mattingbase":
            net = build_model("mattingbase", m["backbone"])
        else:
            net = build_model("mattingrefine", m["backbone"], backbone_scale=r["backbone_scale"],
                              refine_mode=r["mode"], refine_sample_pixels=r["sample_pixels"],
                              refine_threshold=r["threshold"], refine_kernel_size=r["kernel_size"],
                              refine_prevent_oversampling=r["prevent_oversampling"])
        # every layer first, so that what no file covers starts as the chosen scheme says
        init_weights(net, m["init"])
        pretrained = pretrain_path(m["pretrain_initialization"])
        if m["last_checkpoint"] and pretrained:
            raise ConfigError("config: give only one of 'model.last_checkpoint' and 'model.pretrain_initialization'")
        if pretrained:
            check_pretrained_file(pretrained, m["backbone"])
            self.log(pretrained_report(pretrained, load_pretrained(net, pretrained), m["init"]))
        elif m["last_checkpoint"]:
            path = m["last_checkpoint"]
            info = checkpoint_info(path)
            if info["backbone"] != m["backbone"]:
                raise ConfigError(f"config: 'model.last_checkpoint' '{path}' holds a {info['backbone']} model but "
                                  f"'model.backbone' is {m['backbone']}")
            report = load_checkpoint(net, path, strict=False)
            unmatched = "".join(f"; {len(report[k])} {k} ({_some(report[k])})"
                                for k in ("missing", "unexpected", "mismatched") if report[k])
            self.log(f"initialised from {path}: {report['loaded']} tensors loaded{unmatched}")
        else:
            self.log(f"no pretrained weights: every layer starts from the {m['init']} initialisation")
        return net

    def _resume(self):
        state = None
        for step in reversed(self.checkpoints.steps()):  # newest first; fall back past unreadable ones
            try:
                state = self.checkpoints.load(step, self.net, self.optimizer)
                break
            except (CheckpointError, OSError, EOFError, KeyError, ValueError) as e:
                self.log(f"warning: cannot resume from checkpoint step {step} ({e}); trying the previous one")
        if state is None:
            raise ConfigError(f"--resume: none of the checkpoints in '{self.checkpoints.folder}' can be read "
                              f"(see the warnings above)")
        if state["seed"] != self.cfg["seed"]:
            self.log(f"note: resuming a run trained with seed {state['seed']} using seed {self.cfg['seed']}")
        batch = self.cfg["train"]["batch_size"]
        if state.get("batch_size", batch) != batch:  # (checkpoints of older versions do not record it)
            epoch, skip = divmod(state["step"], self.steps_per_epoch)
            self.log(f"warning: resuming a run trained with batch size {state['batch_size']} using batch size "
                     f"{batch}: its {state['step']} steps are counted in batches of {batch} now (epoch {epoch}, "
                     f"batch {skip}), so the data order and the end step differ from the original run")
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.best_sad, self.saved_step = state["step"], state["best_sad"], state["step"]
        self.log(f"resumed from {self.checkpoints.path(step, 'pdparams')} at step {step}")

    # ------------------------------------------------------------------ one step
    def compute_loss(self, outputs, true_pha, true_fgr):
        """(loss, terms) of the model outputs against the ground truth (see model.losses)."""
        weight = self.cfg["loss"]["laplacian_weight"]
        if self.model_type == "mattingbase":
            return base_loss(*outputs[:3], true_pha, true_fgr, laplacian_weight=weight)
        return refine_loss(*outputs[:5], true_pha, true_fgr, laplacian_weight=weight)

    def train_step(self, batch):
        """One optimizer step on ``batch`` = ((pha, fgr), bgr); returns (loss, terms, images to log)."""
        (true_pha, true_fgr), true_bgr = batch
        seed, d = self.cfg["seed"], self.cfg["dataset"]
        size = crop_size(self.model_type, d["crop_min"], d["crop_max"], np.random.default_rng([seed, self.step]))
        # perturbations and dropout draw from paddle's generator: seed it per (step, process)
        paddle.seed(_step_seed(seed, self.step, self.rank))
        true_pha, true_fgr, true_bgr = random_crop(self.model_type, [true_pha, true_fgr, true_bgr], size)
        if self.cfg["train"]["perturbations"]:
            true_src, true_bgr = training_perturbations(true_fgr, true_pha, true_bgr)
        else:
            true_src = composite(true_fgr, true_pha, true_bgr)
        with paddle.amp.auto_cast(enable=self.amp):
            outputs = self.model(true_src, true_bgr)
            loss, terms = self.compute_loss(outputs, true_pha, true_fgr)
        self._check_finite(loss, terms)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.clear_grad()
        self._check_finite_weights()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.sync_buffers:  # BatchNorm running statistics are Paddle parameters with trainable=False
            for p in self.net.parameters():
                if not p.trainable:
                    dist.broadcast(p, src=0)
        pha, fgr = outputs[0], outputs[1]
        green = paddle.to_tensor([0.0, 1.0, 0.0]).reshape([1, 3, 1, 1])
        images = {"true_src": true_src, "true_bgr": true_bgr, "true_pha": true_pha, "pred_pha": pha,
                  "pred_fgr": fgr, "pred_com": fgr * pha + green * (1 - pha),
                  "pred_err": outputs[2] if self.model_type == "mattingbase" else outputs[4]}
        if self.model_type == "mattingrefine":
            images["refine_map"] = outputs[5]
        return loss, terms, images

    def _check_finite(self, loss, terms):
        bad = (~paddle.isfinite(loss.astype("float32"))).astype("float32").reshape([1])
        if self._any_process(bad):
            values = ", ".join(f"{k} {float(v):.4g}" for k, v in terms.items())
            self._stop_non_finite(f"loss is not finite at step {self.step} ({values})")

    def _check_finite_weights(self):
        """After each optimizer step: a huge learning rate can make weights NaN while the loss stays
        finite (the NaN activations are clipped away before the outputs), so check them too."""
        weights = self.net.state_dict()
        bad = non_finite_keys(weights)
        if self._any_process(paddle.to_tensor([float(len(bad))])):
            self._stop_non_finite(f"weights are not finite after step {self.step} ({len(bad)} of {len(weights)} "
                                  f"tensors{f', first {bad[0]!r}' if bad else ' in another process'})")

    def _any_process(self, flag):
        """Whether the float tensor ``flag`` (shape [1]) is non-zero in any process."""
        if self.world > 1:  # every process must stop together, or the others hang in the next all-reduce
            dist.all_reduce(flag)
        return float(flag.sum()) > 0

    def _stop_non_finite(self, what):
        # Every checkpoint written is finite (CheckpointManager refuses others), so the last one is good.
        last = (f"the last good checkpoint is {self.checkpoints.path(self.saved_step, 'pdparams')}; "
                "continue with --resume" if self.saved_step is not None else "no checkpoint was written yet")
        raise NonFiniteLossError(f"{what}; training stopped, {last} (try lower learning rates, or amp: false)")

    # ------------------------------------------------------------------ loop
    def run(self):
        """Train until train.epoch_end or train.max_steps; returns {"step", "best_sad", "final"}."""
        cfg = self.cfg
        end = self.end_step
        self.log(f"training {self.model_type} {cfg['model']['backbone']} in '{self.run_dir}': steps {self.step}..{end}, "
                 f"{self.steps_per_epoch} steps/epoch, {self.world} process(es), device {self.place}"
                 f"{f' ({self.threads} threads)' if self.threads else ''}, "
                 f"amp {'on' if self.amp else 'off'}")
        stop = {"signal": False}
        # Ctrl-C and SIGTERM (schedulers, docker stop) end the step, save and stop
        previous = {s: signal.signal(s, lambda *_: stop.update(signal=True)) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.step < end and not stop["signal"]:
                self._run_epoch(end, stop)
            if stop["signal"]:
                path = self._save()
                raise TrainingInterrupted(f"interrupted at step {self.step}; saved {path}; continue with --resume")
            if self.validated_step != self.step:
                self._validate()
            self._save()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.writer is not None:
                self.writer.close()
        final = self.checkpoints.save_weights(self.net, "final") if self.rank == 0 else None
        self.log(f"done at step {self.step}: final weights {final}, best validation SAD {self.best_sad:.4f}")
        return {"step": self.step, "best_sad": self.best_sad, "final": final}

    def _run_epoch(self, end, stop):
        epoch, skip = divmod(self.step, self.steps_per_epoch)
        self.train_set.set_epoch(epoch)
        self.sampler.set_epoch(epoch, skip)
        steps = min(self.steps_per_epoch, skip + end - self.step)
        bar = tqdm(total=steps, initial=skip, desc=f"epoch {epoch}", unit="step", disable=self.rank != 0,
                   dynamic_ncols=True)
        batch_images = self.cfg["train"]["batch_size"]
        cfg_log = self.cfg["log"]
        with bar:
            for i, batch in enumerate(self.train_loader, start=skip):
                start = time.perf_counter()
                loss, terms, images = self.train_step(batch)
                self.history.append((self.step, float(loss)))
                self.step += 1
                speed = batch_images / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{float(loss):.4f}", img_s=f"{speed:.2f}")
                bar.update()
                if self.writer is not None:
                    if self.step % cfg_log["train_loss_interval"] == 0:
                        self.writer.scalars("train", dict(terms, loss=loss, images_per_s=speed), self.step)
                        scale = self.optimizer.get_lr()  # warm-up/decay factor (1 without a schedule)
                        self.writer.scalars("lr", {k: v * scale for k, v in self.learning_rates.items()},
                                            self.step)
                    if self.step % cfg_log["train_images_interval"] == 0:
                        self.writer.images("train", images, self.step)
                del images
                if self.step % cfg_log["valid_interval"] == 0:
                    self._validate()
                if self.step % self.cfg["checkpoint"]["interval"] == 0 or i + 1 == self.steps_per_epoch:
                    self._save()
                if stop["signal"] or self.step >= end:
                    break  # (at an epoch's end the loader runs out by itself and stops its workers)

    def _validate(self):
        self.validated_step = self.step
        if self.rank != 0:
            return
        metrics = validate(self.net, self.valid_loader, self.compute_loss)
        self.writer.scalars("valid", metrics, self.step)
        improved = metrics["sad"] < self.best_sad
        if improved:
            self.best_sad = metrics["sad"]
            self.checkpoints.save_weights(self.net, "best")
        tqdm.write(f"step {self.step}: valid loss {metrics['loss']:.4f}, SAD {metrics['sad']:.4f}, "
                   f"MSE {metrics['mse']:.5f}{' (best)' if improved else ''}")

    def _save(self):
        if self.rank == 0 and self.saved_step != self.step:
            self.checkpoints.save(self.step, self.net, self.optimizer,
                                  {"seed": self.cfg["seed"], "scaler": self.scaler.state_dict(),
                                   "best_sad": self.best_sad, "batch_size": self.cfg["train"]["batch_size"]})
        self.saved_step = self.step
        return self.checkpoints.path(self.step, "pdparams")
