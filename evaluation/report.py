"""Results of an evaluation: mean metrics, JSON and CSV files, the printed table."""
import csv
import io
import json
import os

import numpy as np

from common.atomic import write_text
from .metrics import METRIC_NAMES

__all__ = ["RESULT_FILES", "PRINTED_UNITS", "mean_metrics", "results_json", "results_csv", "format_table",
           "write_results"]

RESULT_FILES = ("results.json", "results.csv")

# (header, factor from the official raw unit to the printed unit)
PRINTED_UNITS = {
    "sad": ("SAD /1e3", 1.0),       # official value is already divided by 1000
    "mse": ("MSE x1e3", 1e3),
    "grad": ("Grad /1e3", 1e-3),
    "conn": ("Conn /1e3", 1e-3),
    "fgr_mse": ("fgr MSE x1e3", 1e3),
}


def mean_metrics(per_image):
    """Plain average over images of each metric, as benchmark.m computes it."""
    return {k: float(np.mean([r[k] for r in per_image.values()])) for k in METRIC_NAMES}




def results_json(per_image):
    return json.dumps({"per_image": per_image, "mean": mean_metrics(per_image)}, indent=2) + "\n"


def results_csv(per_image):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("name",) + METRIC_NAMES)
    for name, result in per_image.items():
        writer.writerow((name,) + tuple(repr(result[k]) for k in METRIC_NAMES))
    return buf.getvalue()


def format_table(per_image, title):
    """Mean metrics in the units the papers print (each column header names its unit)."""
    means = mean_metrics(per_image)
    heads = [PRINTED_UNITS[k][0] for k in METRIC_NAMES]
    values = [f"{means[k] * PRINTED_UNITS[k][1]:.4f}" for k in METRIC_NAMES]
    widths = [max(len(h), len(v)) for h, v in zip(heads, values)]
    row = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([
        title,
        "Units: SAD is the official value (sum of |error| over the unknown region / 1000); MSE and "
        "fgr MSE x1e3; Grad and Conn /1e3. JSON/CSV hold the official raw units.",
        row(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|", row(values)])


def write_results(per_image, output_dir=None, output_json=None):
    """results.json and results.csv in ``output_dir``, and the JSON to ``output_json``; each atomic."""
    text_json = results_json(per_image)
    if output_dir:
        write_text(os.path.join(output_dir, "results.json"), text_json)
        write_text(os.path.join(output_dir, "results.csv"), results_csv(per_image))
    if output_json:
        write_text(output_json, text_json)
