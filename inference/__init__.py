"""Running a trained BGMv2 model: export, engines, prediction on photos and videos.

* ``export``:       static Paddle programs and the export cache of each checkpoint;
* ``engines``:      ONNX Runtime, Paddle Inference and dygraph engines, ``load_engine``;
* ``onnx_engine``:  paddle2onnx conversion and the ONNX Runtime engine (the fast CPU path);
* ``onnx_session``: ONNX Runtime sessions and fp16 (imports neither Paddle nor the engines);
* ``predictor``:    the function API, ``predict_images`` and ``convert``;
* ``media``:        image, folder and video sources and video sinks;
* ``alignment``:    aligning a handheld background plate to its source;
* ``cli``:          the command-line options shared by predict.py, eval.py and the tools.

Attributes are loaded on first use, so ``from inference import onnx_session`` needs no Paddle.
"""
import importlib

_EXPORTS = {"load_engine": "engines", "load_exported": "engines", "predict_images": "predictor",
            "convert": "predictor", "export_model": "export", "cached_export": "export"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
