"""How good predictions are: the metrics ``kancc eval`` prints and training logs.

Regression (loss "mse"): mse over every output (scikit-learn's ``mean_squared_error``), rmse
as ``root_mean_squared_error`` (each output's rmse, averaged over outputs) and r2 as
``r2_score`` (per output 1 - SS_res / SS_tot, averaged over outputs; an output with SS_tot =
0 scores 1.0 when predicted exactly, else 0.0; NaN for fewer than two rows, where
scikit-learn warns and gives NaN too). Classification (loss
"cross_entropy", the model's outputs are logits): accuracy, and the mean cross-entropy
-log softmax(logits)[label], which is scikit-learn's ``log_loss`` of the softmax
probabilities without its clipping.
"""

from __future__ import annotations

import math

import numpy as np

from kancc.errors import KanccError

HEADLINE = {"mse": "r2", "cross_entropy": "accuracy"}  # the one metric a progress line shows


def regression_metrics(prediction: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """mse, rmse and r2 of ``prediction`` against ``y``, both (n, outputs)."""
    p, t = _float_rows(prediction), _float_rows(y)
    residual = ((t - p) ** 2).sum(axis=0)
    spread = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    exact = residual == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(spread > 0, 1.0 - residual / np.where(spread > 0, spread, 1.0),
                      np.where(exact, 1.0, 0.0))
    per_output = ((t - p) ** 2).mean(axis=0)
    return {"mse": float(per_output.mean()), "rmse": float(np.sqrt(per_output).mean()),
            "r2": float(r2.mean()) if len(t) >= 2 else math.nan}


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """accuracy and mean cross-entropy of ``logits`` (n, classes) against integer labels."""
    z = _float_rows(logits)
    index = np.asarray(labels).astype(np.int64).reshape(-1)
    rows = np.arange(len(index))
    shifted = z - z.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    accuracy = float((z.argmax(axis=1) == index).mean())
    return {"accuracy": accuracy, "cross_entropy": float(-log_softmax[rows, index].mean())}


def metrics(loss: str, prediction: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The metrics of a model trained with ``loss`` ("mse" or "cross_entropy")."""
    if len(prediction) == 0:
        raise KanccError("metrics need at least one row of data")
    if loss == "cross_entropy":
        return classification_metrics(prediction, y)
    return regression_metrics(prediction, y)


def _float_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a
