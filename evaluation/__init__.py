"""Evaluation on PhotoMatte85 with the official metrics of the authors' MATLAB benchmark.

* ``metrics``:     SAD, MSE, Grad, Conn and foreground MSE, exactly as ``eval/*.m`` compute them;
* ``groundtruth``: the ground-truth folders and saved predictions;
* ``protocols``:   how each ground truth is composited into the model's input (seeded);
* ``scoring``:     score a model or saved predictions;
* ``report``:      mean metrics, JSON/CSV results and the printed table;
* ``baseline``:    background differencing, the baseline a trained model must beat;
* ``cli``:         ``eval.py``.
"""
