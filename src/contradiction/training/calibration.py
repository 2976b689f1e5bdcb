"""Temperature scaling: fit one temperature on held-out logits, then fold it into the classifier's last layer.

Dividing the last linear layer's weight and bias by T gives exactly `logits / T`, so the saved model's
softmax is calibrated for every consumer (our Predictor, `transformers.pipeline`, a Hub download) with no
extra file, and its argmax is unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from contradiction.errors import UserError
from contradiction.metrics import softmax

ECE_BINS = 15
# search range of log T: T from about 0.02 to 55 covers every model we have seen by a wide margin
LOG_T_RANGE = (-4.0, 4.0)


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the gold labels."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    return float(np.mean(log_norm - shifted[np.arange(len(labels)), labels]))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over rows of the squared distance between the probabilities and the one-hot gold label."""
    onehot = np.eye(probs.shape[-1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=-1)))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Equal-width bins of the top probability: rows, mean confidence and accuracy of each non-empty bin."""
    confidence = probs.max(axis=-1)
    correct = probs.argmax(axis=-1) == labels
    # bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 falls in the first bin
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        mask = index == i
        if mask.any():
            out.append(
                {
                    "low": i / bins,
                    "high": (i + 1) / bins,
                    "rows": int(mask.sum()),
                    "confidence": float(confidence[mask].mean()),
                    "accuracy": float(correct[mask].mean()),
                }
            )
    return out


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the row-weighted mean gap between confidence and accuracy over the bins."""
    total = len(labels)
    return float(
        sum(b["rows"] / total * abs(b["accuracy"] - b["confidence"]) for b in reliability_bins(probs, labels, bins))
    )


def calibration_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    probs = softmax(np.asarray(logits, dtype=np.float64))
    return {"ece": ece(probs, labels), "nll": nll(logits, labels), "brier": brier(probs, labels)}


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 80) -> float:
    """The temperature T > 0 that minimises the NLL of `logits / T`.

    The NLL is convex in 1/T, so it is unimodal in log T and a golden-section search over a bounded range
    finds its minimum; 80 steps narrow a range of 8 in log T to below 1e-15.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"need one row of logits per label, got {logits.shape} and {labels.shape}")

    def loss(log_t: float) -> float:
        return nll(logits / math.exp(log_t), labels)

    low, high = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return float(math.exp((low + high) / 2))


def final_linear(model, num_labels: int):
    """The classifier's last `nn.Linear` whose output size is the number of labels, found in any model.

    Raises UserError when there is none (a head made of something other than a linear layer cannot take a
    temperature folded into it).
    """
    from torch import nn

    found = None
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features == num_labels:
            found = module
    if found is None:
        name = getattr(getattr(model, "config", None), "name_or_path", None) or type(model).__name__
        raise UserError(
            f"{name}: has no final linear layer with {num_labels} outputs to fold a temperature into; "
            "train it without calibration (--calibrate false)."
        )
    return found


def fold_temperature(model, temperature: float, num_labels: int) -> None:
    """Divide the last layer's weight and bias by `temperature`, in place: the model then outputs logits / T."""
    import torch

    layer = final_linear(model, num_labels)
    with torch.no_grad():
        layer.weight.div_(temperature)
        if layer.bias is not None:
            layer.bias.div_(temperature)


def calibrate(model, logits: np.ndarray, labels: np.ndarray, num_labels: int, split: str = "validation") -> dict:
    """Fit T on `logits`, fold it into `model`, and return the report for `eval_results.json`.

    The metrics before and after are measured on the rows T was fitted on (say so wherever they are shown).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    temperature = fit_temperature(logits, labels)
    fold_temperature(model, temperature, num_labels)
    scaled = logits / temperature
    return {
        "method": "temperature scaling, folded into the last linear layer",
        "temperature": temperature,
        "fitted_on": split,
        "rows": int(len(labels)),
        "measured_on": f"the {split} split the temperature was fitted on",
        "before": calibration_metrics(logits, labels),
        "after": calibration_metrics(scaled, labels),
        "bins_before": reliability_bins(softmax(logits), labels),
        "bins_after": reliability_bins(softmax(scaled), labels),
    }


def check_folded(logits_before: np.ndarray, logits_after: np.ndarray, temperature: float) -> dict:
    """Compare a folded model's logits with `logits_before / T`; refuse when folding did not give exactly that.

    A model whose last `nn.Linear` is followed by more than a reshape (say, a nonlinearity) would get
    different probabilities, and possibly different labels, from a folded temperature.
    """
    expected = np.asarray(logits_before, dtype=np.float64) / temperature
    after = np.asarray(logits_after, dtype=np.float64)
    error = float(np.max(np.abs(after - expected))) if len(after) else 0.0
    if error > 1e-3 * max(1.0, float(np.max(np.abs(expected), initial=0.0))):
        raise UserError(
            f"folding T = {temperature:.3f} into the last linear layer did not divide the logits by T "
            f"(largest difference {error:.3g}); this head needs --calibrate false."
        )
    # each logit moved by at most `error`, so a label changes only where the two top logits were within 2 x error:
    # a near-tie that the float32 forward pass rounded the other way, which the bound above already allows
    changed = int(np.sum(after.argmax(-1) != np.asarray(logits_before).argmax(-1))) if len(after) else 0
    return {"labels_unchanged": changed == 0, "labels_changed_in_ties": changed, "max_logit_error": error}
