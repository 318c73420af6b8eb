"""Train MattingBase (BGMv2's base network) at the crop's full resolution.

Examples:

    python train_base.py --config configs/stage1_base_mobilenetv2.yaml
    python train_base.py --config CONFIG --train-batch-size 8 --model-backbone resnet101   # overrides
    python train_base.py --config CONFIG --resume                                          # continue a run
    python -m paddle.distributed.launch --gpus 0,1,2,3 train_base.py --config CONFIG       # several GPUs

Outputs go to WORK_DIR/NAME/: checkpoints/ (step-*.pdparams/.pdopt/.pdstate, best.pdparams,
final.pdparams), vdl/ (VisualDL logs: visualdl --logdir WORK_DIR/NAME/vdl) and config.yaml.
"""
from common import cpu  # noqa: F401  first: reads $OMP_NUM_THREADS before anything imports Paddle
from training.cli import main

if __name__ == "__main__":
    main("mattingbase", __doc__)
