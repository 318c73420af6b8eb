"""Two gloo worker processes on the CPU through paddle.distributed.launch.

Run as a script (``python -m paddle.distributed.launch ... tests/test_train_distributed.py OUT DATA``)
this file is the worker: it trains one step with the real Trainer and writes its rank's
weights and the sample indices it was given in epoch 0 to OUT.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _overrides(data, work_dir):
    return {("dataset", "paths"): data, ("dataset", "size"): 64, ("dataset", "crop_min"): 48,
            ("dataset", "crop_max"): 64, ("dataset", "valid_samples"): 2, ("model", "backbone"): "mobilenetv2",
            ("train", "batch_size"): 2, ("train", "num_workers"): 0, ("train", "max_steps"): 1,
            (None, "work_dir"): work_dir, (None, "name"): "dist", (None, "device"): "cpu"}


def worker(out, data):
    import paddle
    import paddle.distributed as dist
    from training.config import load_config
    from training.trainer import Trainer

    trainer = Trainer("mattingbase", load_config("mattingbase", None, _overrides(data, os.path.join(out, "work"))))
    rank = dist.get_rank()
    trainer.sampler.set_epoch(0)
    indices = [i for batch in trainer.sampler for i in batch]
    trainer.run()
    paddle.save(trainer.net.state_dict(), os.path.join(out, f"rank{rank}.pdparams"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"world": dist.get_world_size(), "indices": indices, "samples": len(trainer.train_set)}, f)


def _launch(args, tmp_path):
    # one thread per worker on the 2-core CI; paddle's launcher miscounts devices when
    # CUDA_VISIBLE_DEVICES is set to "" (conftest does that), so leave it unset here
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--devices", "", "--nproc_per_node", "2",
           "--log_dir", str(tmp_path / "launch_logs")] + args
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "launch_logs").glob("workerlog.*")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:] + logs[-3000:]
    return logs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from dataset.synthetic import write_synthetic_dataset
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(str(out), size=(64, 64), seed=0, train_clips=1, frames_per_clip=4, valid=2,
                            photo_train=2, test=2, backgrounds=3, valid_backgrounds=2)
    return os.path.join(str(out), "datasets.yaml")


def test_two_workers_train_in_sync_and_split_each_epoch(data, tmp_path):
    import paddle
    _launch([os.path.join("tests", "test_train_distributed.py"), str(tmp_path), data], tmp_path)
    info = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["world"] for i in info] == [2, 2]
    # epoch 0: the two processes together see each of the 4 training frames exactly once
    assert info[0]["samples"] == 4
    assert len(info[0]["indices"]) == len(info[1]["indices"]) == 2
    assert sorted(info[0]["indices"] + info[1]["indices"]) == [0, 1, 2, 3]
    # after a step (different per-process batches and perturbations) the weights are still identical
    a, b = (paddle.load(str(tmp_path / f"rank{r}.pdparams")) for r in (0, 1))
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k
    # only rank 0 writes checkpoints
    folder = tmp_path / "work" / "dist" / "checkpoints"
    assert sorted(os.listdir(folder)) == ["best.pdparams", "final.pdparams", "step-0000001.pdopt",
                                          "step-0000001.pdparams", "step-0000001.pdstate"]


def test_train_base_script_under_launch(data, tmp_path):
    logs = _launch(["train_base.py", "--dataset-paths", data, "--dataset-size", "64", "--dataset-crop-min", "48",
                    "--dataset-crop-max", "64", "--dataset-valid-samples", "2", "--model-backbone", "mobilenetv2",
                    "--batch-size", "2", "--num-workers", "0", "--train-max-steps", "2", "--device", "cpu",
                    "--work-dir", str(tmp_path / "work"), "--name", "script"], tmp_path)
    assert "2 process(es)" in logs and "done at step 2" in logs
    assert os.path.isfile(tmp_path / "work" / "script" / "checkpoints" / "final.pdparams")


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    worker(sys.argv[1], sys.argv[2])
