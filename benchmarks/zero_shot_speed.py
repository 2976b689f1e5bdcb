"""Zero-shot classification, whole process, side by side: `python -m contradiction.classify` against a plain script
that runs `transformers.pipeline("zero-shot-classification")` over the same texts and labels, same model.

    python benchmarks/zero_shot_speed.py --model /work/runs/e5-small-extra --texts 1000

The texts are SIB-200 sentences (../shared/data/sib200, never committed), spread evenly over its 15 languages; the
labels its 7 topics, the template the classifier's default. Reported: seconds per run (start to finish, model load
included), the ratio, how many texts get the same top label, and the largest difference of any score.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, print_table, save
from zero_shot_accuracy import TOPICS, load

from contradiction.inference.zero_shot import DEFAULT_TEMPLATE

PIPELINE_SCRIPT = textwrap.dedent(
    """
    import csv, json, sys
    from transformers import pipeline

    model, path, out, labels, template = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    with open(path, encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    classifier = pipeline("zero-shot-classification", model=model, device="cpu")
    results = classifier(texts, candidate_labels=labels, hypothesis_template=template)
    scores = [dict(zip(r["labels"], r["scores"])) for r in results]
    with open(out, "w", encoding="utf-8") as f:
        json.dump([[s[label] for label in labels] for s in scores], f)
    """
)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--fast_only", action="store_true", help="skip the float32 run of our CLI")
    args = parser.parse_args()

    df = load(701, seed=0)
    per_language = -(-args.texts // df["lang_abv"].nunique())
    df = df.groupby("lang_abv").head(per_language).head(args.texts)
    labels = list(TOPICS)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "texts.csv"
        df[["id", "text", "lang_abv"]].to_csv(source, index=False)
        (tmp / "baseline.py").write_text(PIPELINE_SCRIPT)
        reference_out = tmp / "pipeline.json"
        baseline_s = timed(
            [
                sys.executable,
                str(tmp / "baseline.py"),
                args.model,
                str(source),
                str(reference_out),
                json.dumps(labels),
                DEFAULT_TEMPLATE,
            ]
        )
        reference = np.array(json.loads(reference_out.read_text()))
        rows = [{"run": "transformers pipeline (float32)", "seconds": baseline_s, "ratio": 1.0}]
        for flags, name in (([], "contradiction.classify (fast)"), (["--no_fast"], "contradiction.classify (float32)")):
            if flags and args.fast_only:
                continue
            out = tmp / f"ours{len(flags)}.csv"
            seconds = timed(
                [
                    sys.executable,
                    "-m",
                    "contradiction.classify",
                    "--model",
                    args.model,
                    "--input",
                    str(source),
                    "--text_column",
                    "text",
                    "--labels",
                    *labels,
                    "--output",
                    str(out),
                    *flags,
                ]
            )
            ours = pd.read_csv(out, dtype={"id": str})
            scores = ours[labels].to_numpy()
            rows.append(
                {
                    "run": name,
                    "seconds": seconds,
                    "ratio": baseline_s / seconds,
                    "same_top_label": float((scores.argmax(1) == reference.argmax(1)).mean()),
                    "max_score_diff": float(np.abs(scores - reference).max()),
                    "mean_score_diff": float(np.abs(scores - reference).mean()),
                }
            )
    print(f"{len(df)} texts x {len(labels)} labels = {len(df) * len(labels)} pairs; model {args.model}")
    print_table(rows, ["run", "seconds", "ratio", "same_top_label", "max_score_diff", "mean_score_diff"])
    save(
        "zero_shot_speed", {"model": str(Path(args.model).resolve()), "texts": len(df), "labels": labels, "rows": rows}
    )


if __name__ == "__main__":
    main()
