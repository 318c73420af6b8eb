#!/usr/bin/env bash
# BGMv2 training stages and the end-to-end demo.
#
#   bash run.sh stage1 [BACKBONE] [ARGS...]  # VideoMatte240K: base to convergence, then base + refiner
#   bash run.sh stage2 [BACKBONE] [ARGS...]  # fine-tune the refine model on Distinctions-646
#   bash run.sh stage3 [BACKBONE] [ARGS...]  # fine-tune on your own data (the 'custom' entry)
#   bash run.sh demo [--seed N]               # synthetic data, train, evaluate, predict on this machine
#
# BACKBONE: resnet50 (default), resnet101 or mobilenetv2. ARGS go to every training command
# (e.g. --batch-size 8 --resume). Dataset locations: configs/datasets.yaml. Each stage writes
# work_dirs/<stage>_<model>_<backbone>/ (checkpoints/, vdl/, config.yaml, eval/).
# stage1 starts MattingBase from DeepLabV3, as the reference does: download VainF/DeepLabV3Plus-Pytorch's
# best_deeplabv3_{resnet50,resnet101,mobilenet}_voc_os16.pth into pretrained/ first, or pass
# --model-pretrain-initialization none to train from scratch. demo --seed N: training seed (default 0).
# Several GPUs: GPUS=0,1,2,3 bash run.sh stage1 resnet50  (python -m paddle.distributed.launch);
# several machines: also IPS=10.0.0.1,10.0.0.2 on every machine.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python}

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# train SCRIPT CONFIG [ARGS...]: one process, or one per GPU with GPUS=..., across machines with IPS=...
train() {
    local script=$1
    shift
    if [[ -n "${GPUS:-}" ]]; then
        local launch=(-m paddle.distributed.launch --gpus "$GPUS")
        [[ -n "${IPS:-}" ]] && launch+=(--ips "$IPS")
        "$PYTHON" "${launch[@]}" "$script" "$@"
    else
        "$PYTHON" "$script" "$@"
    fi
}

# evaluate NAME: score WORK_DIRS/NAME's final weights on PhotoMatte85 (configs/datasets.yaml)
evaluate() {
    local run=work_dirs/$1
    "$PYTHON" eval.py --model-path "$run/checkpoints/final.pdparams" --output-dir "$run/eval" --overwrite
}

check_backbone() {
    case "$1" in
        resnet50|resnet101|mobilenetv2) ;;
        *) echo "run.sh: unknown backbone '$1' (resnet50, resnet101 or mobilenetv2)" >&2; exit 2 ;;
    esac
}

stage() {
    local stage=$1 backbone=${2:-resnet50}
    check_backbone "$backbone"
    shift $(( $# >= 2 ? 2 : 1 ))
    case "$stage" in
        stage1)
            train train_base.py --config "configs/stage1_base_$backbone.yaml" "$@"
            train train_refine.py --config "configs/stage1_refine_$backbone.yaml" "$@"
            ;;
        stage2|stage3)
            train train_refine.py --config "configs/${stage}_refine_$backbone.yaml" "$@"
            ;;
    esac
    evaluate "${stage}_refine_$backbone"
}

demo() {
    # demo [SEED]: SEED (default 0) seeds the three training steps only; the synthetic data and the
    # test composites keep seed 0, so runs with different seeds are scored on the same images.
    local seed=${1:-0}
    # A fresh folder per run: earlier results are never overwritten.
    local root=work_dirs/demo
    local dir
    dir=$root/run-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$root"
    if ! mkdir "$dir" 2>/dev/null; then
        echo "run.sh: $dir exists; wait a second and run again" >&2
        exit 1
    fi
    ln -sfn "$(basename "$dir")" "$root/latest"
    local data=$dir/data start=$SECONDS
    local base=$dir/demo_base_mobilenetv2/checkpoints/final.pdparams
    local refine_e2e=$dir/demo_refine_mobilenetv2/checkpoints/final.pdparams
    local refine=$dir/demo_refiner_mobilenetv2/checkpoints/final.pdparams
    local size=128   # test images are composited at this size (eval.py's bgmv2 and perturbed protocols)
    local model=(--backbone mobilenetv2 --backbone-scale 0.5 --refine-mode sampling --refine-sample-pixels 8192)
    local testset=(--data-path "$data/photomatte85" --bgr-path "$data/backgrounds/valid" --size "$size" --seed 0)
    local train=(--dataset-paths "$data/datasets.yaml" --work-dir "$dir" --seed "$seed")
    echo "== demo in $dir (training seed $seed)"

    echo "== 1/7 synthetic dataset"
    "$PYTHON" -m tools.make_synthetic_dataset "$data" --size 256 --seed 0
    echo "== 2/7 train MattingBase (configs/demo_base_mobilenetv2.yaml)"
    "$PYTHON" train_base.py --config configs/demo_base_mobilenetv2.yaml "${train[@]}"
    echo "== 3/7 train MattingRefine from it (configs/demo_refine_mobilenetv2.yaml)"
    "$PYTHON" train_refine.py --config configs/demo_refine_mobilenetv2.yaml "${train[@]}" --model-last-checkpoint "$base"
    echo "== 4/7 train its refiner alone, the base frozen (configs/demo_refiner_mobilenetv2.yaml)"
    "$PYTHON" train_refine.py --config configs/demo_refiner_mobilenetv2.yaml "${train[@]}" \
        --model-last-checkpoint "$refine_e2e"
    # perfect plates (bgmv2) and real-world-like plates (perturbed: the reference's training perturbations)
    local protocol
    for protocol in perturbed bgmv2; do
        echo "== 5/7 evaluate on the synthetic PhotoMatte85-style test set, $protocol protocol"
        "$PYTHON" eval.py --model-path "$refine" --model-type mattingrefine "${model[@]}" "${testset[@]}" \
            --protocol "$protocol" --output-dir "$dir/eval/$protocol" --save-pred
        echo "== 6/7 baseline: background differencing with the best threshold for the test set, $protocol protocol"
        "$PYTHON" -m tools.background_difference "${testset[@]}" --protocol "$protocol" \
            --output-json "$dir/eval/$protocol/background_difference.json"
    done
    "$PYTHON" -m tools.demo_report "$dir" "${testset[@]}"
    echo "== 7/7 predict the bundled sample pair"
    "$PYTHON" predict.py --model-path "$refine" --model-type mattingrefine --backbone mobilenetv2 \
        --backbone-scale 0.125 --src dataset/samples/src.jpg --bgr dataset/samples/bgr.jpg \
        --output-dir "$dir/predict" --outputs pha fgr com err ref
    echo "== demo done in $(( SECONDS - start )) s: $dir (checkpoints, eval/, metrics.md, metrics.json, comparison.png, predict/)"
}

case "${1:-}" in
    stage1|stage2|stage3) stage "$@" ;;
    demo)
        if (( $# == 3 )) && [[ $2 == --seed && $3 =~ ^[0-9]+$ ]]; then
            demo "$3"
        elif (( $# == 1 )); then
            demo 0
        else
            echo "run.sh: 'demo' takes only --seed N (a non-negative integer), got: ${*:2}" >&2
            exit 2
        fi ;;
    *) usage ;;
esac
