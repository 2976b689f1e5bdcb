"""The plots beside a model card: the confusion matrix, accuracy per language and the reliability diagram."""

from __future__ import annotations

from pathlib import Path

from contradiction.labels import LABELS

CONFUSION_PNG = "confusion_matrix.png"
PER_LANGUAGE_PNG = "per_language_accuracy.png"
RELIABILITY_PNG = "reliability_diagram.png"


def save_plots(report: dict, output_dir: str | Path) -> list[str]:
    """Write the confusion matrix and the per-language accuracy as PNG files; return their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    matrix = report["confusion_matrix"]
    fig, ax = plt.subplots(figsize=(5.8, 4.4))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > peak / 2 else "black")
    fig.colorbar(image, ax=ax)
    ax.set_title(f"Validation, {report['rows']} pairs (accuracy {report['accuracy']:.3f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(output_dir / CONFUSION_PNG, dpi=110)
    plt.close(fig)

    per_language = sorted(report["per_language"].items(), key=lambda kv: kv[1]["accuracy"])
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(per_language) + 1.2))
    names = [v.get("language", code) for code, v in per_language]
    ax.barh(names, [v["accuracy"] for _, v in per_language], color="#4c72b0")
    ax.axvline(report["accuracy"], color="#dd8452", linestyle="--", label=f"overall {report['accuracy']:.3f}")
    ax.axvline(1 / len(LABELS), color="grey", linestyle=":", label="chance")
    ax.set_xlim(0, 1)
    ax.set_xlabel("validation accuracy")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(output_dir / PER_LANGUAGE_PNG, dpi=110)
    plt.close(fig)
    names = [CONFUSION_PNG, PER_LANGUAGE_PNG]
    if "calibration" in report:
        save_reliability_diagram(report["calibration"], output_dir / RELIABILITY_PNG)
        names.append(RELIABILITY_PNG)
    return names


def save_reliability_diagram(calibration: dict, path: Path) -> None:
    """Accuracy against mean confidence per bin, before and after temperature scaling, with the diagonal."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for key, color, name in (("before", "#dd8452", "softmax"), ("after", "#4c72b0", "temperature scaled")):
        bins = calibration[f"bins_{key}"]
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            color=color,
            label=f"{name} (ECE {calibration[key]['ece']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean top probability in the bin")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(
        f"T = {calibration['temperature']:.2f}, fitted on {calibration['rows']} {calibration['fitted_on']} pairs",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
