"""Train MattingRefine (BGMv2 base network + patch refiner) end to end.

Examples:

    python train_refine.py --config configs/stage1_refine_resnet50.yaml
    python train_refine.py --config CONFIG --train-batch-size 8 --model-backbone resnet101   # overrides
    python train_refine.py --config CONFIG --resume                                          # continue a run
    python -m paddle.distributed.launch --gpus 0,1,2,3 train_refine.py --config CONFIG       # several GPUs

Outputs go to WORK_DIR/NAME/: checkpoints/ (step-*.pdparams/.pdopt/.pdstate, best.pdparams,
final.pdparams), vdl/ (VisualDL logs: visualdl --logdir WORK_DIR/NAME/vdl) and config.yaml.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle
from training.cli import main

if __name__ == "__main__":
    main("mattingrefine", __doc__)
