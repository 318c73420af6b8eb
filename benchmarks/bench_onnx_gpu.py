"""GPU speed of our exported model under ONNX Runtime's CUDA provider, beside the PyTorch reference.

For a GPU machine without Paddle (files must travel small, Paddle can't be installed there):

    python -m benchmarks.bench_onnx_gpu pack PACK/          # here: export, convert, pack (needs Paddle)
    python -m benchmarks.bench_onnx_gpu run PACK/           # there: needs onnxruntime-gpu, onnx, torch,
                                                            # backgroundmattingv2; prints the table

``pack`` exports each case's model with the seeded reference weights of bench_inference.py through
the project's own export and ONNX conversion (the files ``load_engine`` caches), and writes each
ONNX graph without its weights plus one file of weights per backbone, rounded to 8 bits per tensor
(R50: 40 MB instead of 160 MB), and the CPU outputs of the rounded model on a check input.

``run`` rebuilds the models, checks the CUDA outputs against those CPU outputs, converts to fp16
with ``inference.onnx_session.float16_model`` (the engine's own conversion), and times, each in its
own process: ONNX Runtime CUDA fp32 and fp16 (inputs and outputs kept on the GPU with I/O binding,
cuDNN algorithms searched exhaustively) and the reference in fp32 and fp16 (its own weights,
calibrated with the same recipe on that machine; speed does not depend on the values:
sampling mode refines a fixed number of patches), as the paper's speed test does: inputs on the
GPU, torch.inference_mode, cudnn.benchmark, synchronised, median of --runs after --warmup.
With a CUDA build of Paddle, benchmarks/bench_inference.py --device gpu times Paddle Inference.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from benchmarks.bench_inference import (CASES, make_input, prepare_weights, refine_options, time_frames,
                                        torch_runner)  # (none of them imports Paddle)

GPU_CASES = ("mnv2-hd", "mnv2-4k", "r50-hd", "r50-4k")
CHECK_SIZE = (288, 512)  # the check input (H, W)
MIN_PACKED = 4096  # float tensors with fewer elements stay in the graph



def _weight_tensors(model):
    """(name, TensorProto) of the large float weights: initializers and Constant nodes' values."""
    from onnx import TensorProto
    tensors = [(t.name, t) for t in model.graph.initializer]
    tensors += [(n.output[0], n.attribute[0].t) for n in model.graph.node
                if n.op_type == "Constant" and n.attribute[0].name == "value"]
    return [(name, t) for name, t in tensors
            if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) >= MIN_PACKED]


def strip_weights(model, store):
    """Move the large weights of ``model`` (changed in place) into ``store`` {key: float32 array}
    (keys: content hashes, so models that share weights share entries). Returns {name: key}."""
    from onnx import numpy_helper
    names = {}
    for name, tensor in _weight_tensors(model):
        array = numpy_helper.to_array(tensor)
        key = hashlib.sha1(array.tobytes()).hexdigest()[:16]
        store[key] = array
        names[name] = key
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
    return names


def restore_weights(model, names, store):
    """Put the weights named by ``strip_weights`` back from ``store`` {key: float32 array}."""
    for name, tensor in _weight_tensors(model):
        tensor.raw_data = np.ascontiguousarray(store[names[name]], np.float32).tobytes()


def quantize(store):
    """Per tensor 8-bit rounding: {key: (uint8 codes, low, step)}."""
    packed = {}
    for key, array in store.items():
        low, high = float(array.min()), float(array.max())
        step = (high - low) / 255 or 1.0
        packed[key] = (np.round((array - low) / step).astype(np.uint8), low, step)
    return packed


def dequantize(npz):
    return {key[2:]: npz[key].astype(np.float32) * npz["s_" + key[2:]][1] + npz["s_" + key[2:]][0]
            for key in npz.files if key.startswith("q_")}


def same_selection_diff(a, b):
    """Max |a - b| of pha and fgr over the pixels whose 4x4 patch both runs refined or both kept
    (top-k ties may pick different patches), and the fraction of such pixels."""
    same = np.kron((a["ref_sm"] == b["ref_sm"]).astype(np.uint8), np.ones((1, 1, 4, 4), np.uint8)).astype(bool)
    return max(float(np.abs(a[n] - b[n])[np.broadcast_to(same, a[n].shape)].max()) for n in ("pha", "fgr")), \
        float(same.mean())


def pack(args):
    import onnx
    import onnxruntime

    from inference.export import cached_export
    from inference.onnx_engine import cached_onnx
    from model.options import ModelOptions
    os.makedirs(args.folder, exist_ok=True)
    weights_dir = args.weights_dir or tempfile.mkdtemp(prefix="bgmv2_bench_")
    stores, manifest = {}, {}
    for case in args.cases:
        backbone, model_type = CASES[case][:2]
        _, pdparams = prepare_weights(case, weights_dir)
        options = ModelOptions(model_type=model_type, backbone=backbone, **refine_options(case))
        model = onnx.load(cached_onnx(cached_export(pdparams, options)))
        store = stores.setdefault(backbone, {})
        names = strip_weights(model, store)
        onnx.save(model, os.path.join(args.folder, f"{case}.onnx"))
        manifest[case] = {"weights": f"{backbone}.npz", "names": names, "options": options.to_dict()}
    for backbone, store in stores.items():
        packed = quantize(store)
        np.savez(os.path.join(args.folder, f"{backbone}.npz"),
                 **{f"q_{k}": q for k, (q, _, _) in packed.items()},
                 **{f"s_{k}": np.array([low, step]) for k, (_, low, step) in packed.items()})
    src, bgr = make_input(*CHECK_SIZE)
    for case in args.cases:  # the CPU outputs of the rounded weights, for the check on the GPU
        model = rebuild(args.folder, manifest, case)
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        out = session.run(["pha", "fgr", "ref_sm"], {"src": src, "bgr": bgr})
        np.savez(os.path.join(args.folder, f"{case}.check.npz"),  # float16: half the size, 5e-4 off
                 **{name: x.astype(np.float16) for name, x in zip(("pha", "fgr", "ref_sm"), out)})
    with open(os.path.join(args.folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    for name in sorted(os.listdir(args.folder)):
        print(f"{os.path.getsize(os.path.join(args.folder, name)) / 2**20:8.1f} MiB  {name}")


def rebuild(folder, manifest, case):
    """The fp32 onnx.ModelProto of ``case`` with its (rounded) weights."""
    import onnx
    model = onnx.load(os.path.join(folder, f"{case}.onnx"))
    with np.load(os.path.join(folder, manifest[case]["weights"])) as npz:
        restore_weights(model, manifest[case]["names"], dequantize(npz))
    return model


def _gpu_memory_mib():
    import pynvml
    pynvml.nvmlInit()
    return pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).used / 2**20


def worker(args):
    """Time one variant of one case in this process; print a JSON line."""
    backbone, _, height, width = CASES[args.case][:4]
    src, bgr = make_input(height, width)
    start_memory = _gpu_memory_mib() if args.device == "gpu" else 0.0
    result = {}
    if args.engine == "torch":
        import torch

        from tests.helpers.reference_checkpoint import build_reference_model
        torch.backends.cudnn.benchmark = True
        dtype = torch.float16 if args.precision == "fp16" else torch.float32
        device = "cuda" if args.device == "gpu" else "cpu"
        net = build_reference_model(backbone, refine=True, **refine_options(args.case))
        run = torch_runner(net.to(device, dtype), src, bgr, device, dtype)
    else:
        if args.device == "gpu":
            import torch  # noqa: F401  (its CUDA and cuDNN libraries serve onnxruntime-gpu, as ONNX Runtime documents)
        import onnx
        import onnxruntime
        from inference import onnx_session as ort  # imports neither Paddle nor the engines
        with open(os.path.join(args.folder, "manifest.json")) as f:
            manifest = json.load(f)
        model = rebuild(args.folder, manifest, args.case)
        if args.precision == "fp16":
            model = ort.float16_model(model)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.onnx")
            onnx.save(model, path)
            cuda_options = dict(option.split("=", 1) for option in args.cuda_option)
            session = ort.create_session(path, args.device, cuda_options=cuda_options)
        check_src, check_bgr = make_input(*CHECK_SIZE)
        out = dict(zip(("pha", "fgr", "ref_sm"), session.run(["pha", "fgr", "ref_sm"],
                                                             {"src": check_src, "bgr": check_bgr})))
        with np.load(os.path.join(args.folder, f"{args.case}.check.npz")) as expected:
            result["check_max_diff"], result["check_same_selection"] = same_selection_diff(
                out, {name: expected[name].astype(np.float32) for name in expected.files})
        where = "cuda" if args.device == "gpu" else "cpu"
        binding = session.io_binding()
        for name, x in (("src", src), ("bgr", bgr)):
            binding.bind_ortvalue_input(name, onnxruntime.OrtValue.ortvalue_from_numpy(x, where, 0))
        for name in ("pha", "fgr"):
            binding.bind_output(name, where, 0)

        def run():
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()
    times = time_frames(run, args.warmup, args.runs)
    result.update(times=times, gpu_mib=(_gpu_memory_mib() - start_memory) if args.device == "gpu" else 0.0)
    print(json.dumps(result))


def run(args):
    """Measure each case, engine and precision in its own process; rows go to --json as they come."""
    rows = []
    for case in args.cases:
        for engine in args.engines:
            for precision in args.precisions:
                cmd = [sys.executable, "-m", __spec__.name, "worker", args.folder, "--case", case,
                       "--engine", engine, "--precision", precision, "--device", args.device,
                       "--runs", str(args.runs), "--warmup", str(args.warmup),
                       *(f"--cuda-option={o}" for o in args.cuda_option)]
                done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{case} {engine} {precision} failed:\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
                    continue
                out = json.loads(done.stdout.strip().splitlines()[-1])
                label = " ".join([engine, *args.cuda_option] if engine == "onnxruntime" else [engine])
                rows.append(dict(out, case=case, engine=label, precision=precision, device=args.device,
                                 median=float(np.median(out["times"])), runs=args.runs, warmup=args.warmup))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "times"}), file=sys.stderr, flush=True)
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(rows, f)
    print_table(rows)


def print_table(rows):
    reference = {(r["case"], r["precision"]): r["median"] for r in rows if r["engine"] == "torch"}
    print(f"\nmedian time per frame (batch 1) over {', '.join(sorted({str(r['runs']) for r in rows}))} runs "
          f"after {', '.join(sorted({str(r['warmup']) for r in rows}))} warm-up; device {rows[0]['device']}")
    header = (f"{'case':<8} {'engine':<26} {'prec':<5} {'ms/frame':>9} {'fps':>7} {'vs torch':>9} {'GPU MiB':>8} "
              f"{'check max|diff|':>16}")
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (GPU_CASES.index(r["case"]), r["precision"], r["engine"])):
        ratio = r["median"] / reference.get((r["case"], r["precision"]), float("nan"))
        check = f"{r['check_max_diff']:.1e} ({r['check_same_selection']:.0%})" if "check_max_diff" in r else ""
        print(f"{r['case']:<8} {r['engine']:<26} {r['precision']:<5} {1000 * r['median']:9.2f} "
              f"{1 / r['median']:7.1f} {ratio:9.2f} {r['gpu_mib']:8.0f} {check:>16}")
    for case in sorted({r["case"] for r in rows}, key=GPU_CASES.index):
        backbone, _, h, w, scale, pixels = CASES[case]
        print(f"  {case}: {backbone} {w}x{h}, backbone scale {scale}, sampling {pixels:,} px")
    print("  GPU MiB: device memory in use after the runs minus before (CUDA context included)")
    print("  check: ONNX Runtime's outputs on a 512x288 input against the CPU outputs of the same weights "
          "(max over pixels whose patches both refined; % of such pixels)")


def table(args):
    rows = []
    for path in args.rows:
        with open(path) as f:
            rows += json.load(f)
    print_table(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["pack", "run", "table", "worker"])
    parser.add_argument("folder", nargs="?", help="the pack folder (pack, run)")
    parser.add_argument("rows", nargs="*", help="table: --json files of runs to print together")
    parser.add_argument("--cases", nargs="+", default=list(GPU_CASES), choices=GPU_CASES)
    parser.add_argument("--weights-dir", help="pack: keep the seeded reference weights here (default: a "
                                              "temporary folder)")
    parser.add_argument("--device", default="gpu", choices=["gpu", "cpu"], help="run: cpu for a dry run")
    parser.add_argument("--engines", nargs="+", default=["onnxruntime", "torch"], choices=["onnxruntime", "torch"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"], choices=["fp32", "fp16"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", help="run: also write the rows here")
    parser.add_argument("--cuda-option", action="append", default=[], metavar="KEY=VALUE",
                        help="run: an option of ONNX Runtime's CUDA provider (e.g. prefer_nhwc=1)")
    # Internal: one measurement in a subprocess.
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command == "table":
        args.rows = [args.folder] + args.rows
    {"pack": pack, "run": run, "table": table, "worker": worker}[args.command](args)


if __name__ == "__main__":
    main()
