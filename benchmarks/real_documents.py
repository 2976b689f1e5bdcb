"""Claims checked against real documents: SummEdits summaries and WiCE claims with their cited web pages.

    python benchmarks/real_documents.py --model /work/runs/docs                       # every setting below
    python benchmarks/real_documents.py --model /work/runs/docs --settings 2@128 fit@256 --speed

The data (../shared/data/documents, read its README; never trained on): SummEdits' news, podcast, sales_call and
samsum domains (up to --rows_per_domain rows each, a seeded sample) and the WiCE dev split (up to --wice_rows of its
349 claims, a seeded sample). Every row is in one of two halves by a hash of its document, so the claims of one
document stay together: thresholds and choices are made on the "choose" half and reported on the "report" half.

For each window setting (`S@L`: windows of at most S sentences, or `fit` for as many as fit, read at L tokens a
pair) the windows' probabilities of every claim sentence are computed once (`DocumentChecker.window_probabilities`)
and each aggregation scores the rows from them:
- `summac-zs/min`: a claim's score is its best window's P(e) - P(c), the document's the lowest of its claims'
  (SummaC-ZS; what `inference.documents` serves);
- `summac-zs/mean`: the same, the mean over claims;
- `max-pe/min`: the best window's P(entailment), lowest over claims;
- `pe-minus-pc/min`: the largest P(entailment) of a window less the largest P(contradiction) of a window (a
  contradicting window costs support even where another window supports), lowest over claims;
- `before`: the rule served until 2026-12-02 (the window least likely neutral decides a claim, any contradicted
  claim makes the document a contradiction); its score for ROC AUC is that window's P(e) - P(c), lowest over claims.
Per SummEdits domain and for WiCE (supported against the rest): ROC AUC and balanced accuracy on the report half,
at the one threshold that is best on the choose half (mean of the SummEdits domains' and WiCE's balanced
accuracy). Then the module's checker as served (`check_many`: its windows at the model's length, reading the
probabilities the settings computed), with the module's thresholds and with the supported threshold fitted on the
choose half: balanced accuracy from its labels, the share of each label, and for WiCE whether the evidence sentence
of a supported claim lies in a gold supporting set. `--speed`: seconds per
SummEdits row (median, p95) and for a 7,000-character document with 3 claims, with nothing else on the cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import DEFAULT_MODEL, ROOT, print_table, save

from contradiction.inference.documents import (
    CONTRADICTION,
    ENTAILMENT,
    NEUTRAL,
    WINDOW_SENTENCES,
    DocumentChecker,
    Thresholds,
    combine,
    split_sentences,
)
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS

DOCUMENTS = ROOT.parent / "shared" / "data" / "documents"
DOMAINS = ("news", "podcast", "sales_call", "samsum")
SETTINGS = ("1@128", "2@128", "3@128", "fit@128", "fit@256", "fit@512")
THRESHOLDS = np.linspace(-1, 1, 401)


def load(rows_per_domain: int, wice_rows: int, seed: int) -> pd.DataFrame:
    """SummEdits (a sample per domain) and WiCE as one frame: set, domain, document, claim, gold (1 = consistent or
    supported), half ("choose" or "report"), gold_spans (WiCE)."""
    summedits = pd.read_csv(DOCUMENTS / "summedits-dev.csv.gz")
    summedits = summedits[summedits["domain"].isin(DOMAINS)]
    summedits = pd.concat(
        [rows.sample(min(rows_per_domain, len(rows)), random_state=seed) for _, rows in summedits.groupby("domain")]
    )
    summedits = summedits.assign(set="summedits", gold=summedits["consistent"].astype(int), gold_spans=None)
    wice = pd.read_csv(DOCUMENTS / "wice-dev.csv.gz")
    wice = wice.sample(min(wice_rows, len(wice)), random_state=seed)
    wice = wice.assign(set="wice", domain="wice", gold=(wice["wice_label"] == "supported").astype(int))
    frame = pd.concat([summedits, wice], ignore_index=True)[
        ["set", "domain", "document", "claim", "gold", "gold_spans"]
    ]
    parity = [int(hashlib.sha256(d.encode()).hexdigest(), 16) % 2 for d in frame["document"]]
    return frame.assign(half=["choose" if p == 0 else "report" for p in parity])


def before_rule(claims: list[np.ndarray]) -> tuple[str, float]:
    """The rule served until 2026-12-02: per claim the window least likely neutral decides with its top label."""
    labels, scores = [], []
    for block in claims:
        window = int(block[:, NEUTRAL].argmin())
        labels.append(LABELS[int(block[window].argmax())])
        scores.append(block[window, ENTAILMENT] - block[window, CONTRADICTION])
    return combine(labels), float(min(scores))


AGGREGATIONS = {
    "summac-zs/min": lambda claims: min(float((b[:, ENTAILMENT] - b[:, CONTRADICTION]).max()) for b in claims),
    "summac-zs/mean": lambda claims: float(np.mean([(b[:, ENTAILMENT] - b[:, CONTRADICTION]).max() for b in claims])),
    "max-pe/min": lambda claims: min(float(b[:, ENTAILMENT].max()) for b in claims),
    "pe-minus-pc/min": lambda claims: min(float(b[:, ENTAILMENT].max() - b[:, CONTRADICTION].max()) for b in claims),
    "before": lambda claims: before_rule(claims)[1],
}


def roc_auc(gold: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties count a half)."""
    positive, negative = score[gold == 1], score[gold == 0]
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(wins / (len(positive) * len(negative)))


def balanced_accuracy(gold: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean([np.mean(predicted[gold == g] == g) for g in (0, 1) if (gold == g).any()]))


def groups(frame: pd.DataFrame, half: str) -> dict[str, np.ndarray]:
    """Row indices of each SummEdits domain and of WiCE in one half."""
    return {
        name: np.flatnonzero(((frame["domain"] == name) & (frame["half"] == half)).to_numpy())
        for name in (*DOMAINS, "wice")
    }


def objective(gold: np.ndarray, predicted: np.ndarray, parts: dict[str, np.ndarray]) -> float:
    """What a threshold is chosen by: the mean of the SummEdits domains' balanced accuracy, and WiCE's."""
    summedits = np.mean([balanced_accuracy(gold[i], predicted[i]) for name, i in parts.items() if name != "wice"])
    return float((summedits + balanced_accuracy(gold[parts["wice"]], predicted[parts["wice"]])) / 2)


def score_rows(frame: pd.DataFrame, scores: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """AUC and balanced accuracy per domain on the report half, at the threshold best on the choose half (or
    `labels`' own answers: 1 = consistent)."""
    gold = frame["gold"].to_numpy()
    choose, report = groups(frame, "choose"), groups(frame, "report")
    threshold = None
    if labels is None:
        threshold = float(max(THRESHOLDS, key=lambda t: objective(gold, (scores >= t).astype(int), choose)))
        labels = (scores >= threshold).astype(int)
    row = {"threshold": threshold}
    for name, i in report.items():
        row[f"{name}_auc"] = roc_auc(gold[i], scores[i])
        row[f"{name}_ba"] = balanced_accuracy(gold[i], labels[i])
    row["summedits_ba"] = float(np.mean([row[f"{d}_ba"] for d in DOMAINS]))
    row["summedits_auc"] = float(np.mean([row[f"{d}_auc"] for d in DOMAINS]))
    row["choose_objective"] = objective(gold, labels, choose)
    return row


def evidence_hit(result, spans: list) -> bool:
    """Whether the evidence of the least supported claim sentence lies (by more than half) in a gold set."""
    claim = min(result.claims, key=lambda c: c.score)
    if claim.evidence is None:
        return False
    e = claim.evidence
    inside = max((min(e.end, end) - max(e.start, start) for group in spans for start, end in group), default=0)
    return inside > (e.end - e.start) / 2


class Recorded:
    """The predictor's probabilities, each pair's kept: the settings' passes fill it, and the checker as served
    reads its windows from it (computing only the pairs no setting read), so that it costs no second pass."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.seen: dict[tuple[int, str, str], np.ndarray] = {}

    def __call__(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        length = self.predictor.max_length
        keys = [(length, p, h) for p, h in zip(premises, hypotheses, strict=True)]
        missing = list(dict.fromkeys(k for k in keys if k not in self.seen))
        if missing:
            probs = self.predictor.predict_proba([k[1] for k in missing], [k[2] for k in missing])
            self.seen.update(zip(missing, np.asarray(probs), strict=True))
        return np.stack([self.seen[k] for k in keys]) if keys else np.zeros((0, 3))


def checker_for(predictor: Predictor, setting: str, recorded: Recorded) -> DocumentChecker:
    sentences, length = setting.split("@")
    predictor.max_length = int(length)
    return DocumentChecker(
        predictor, recorded, split="always", max_sentences=None if sentences == "fit" else int(sentences)
    )


def served_setting(length: int) -> str:
    """The setting name of the module's own windows at the served length (a checker splits only long documents,
    the settings always: the same windows wherever a document is longer than one window)."""
    return f"{WINDOW_SENTENCES or 'fit'}@{length}"


def served_row(frame: pd.DataFrame, results: list) -> tuple[dict, list[dict]]:
    """The served checker's answers scored as the settings are (entailment = consistent), its label shares per
    domain, and for WiCE's supported claims whether the evidence lies in a gold supporting set."""
    scores = np.array([2 * r.score - 1 for r in results])
    labels = np.array([r.label == "entailment" for r in results]).astype(int)
    served = score_rows(frame, scores, labels)
    shares = []
    for name in (*DOMAINS, "wice"):
        picked = [r for r, d in zip(results, frame["domain"], strict=True) if d == name]
        shares.append(
            {"domain": name, **{label: float(np.mean([r.label == label for r in picked])) for label in LABELS}}
        )
    wice = frame[(frame["set"] == "wice") & (frame["gold"] == 1)]
    hits = [
        evidence_hit(results[i], json.loads(spans)) for i, spans in zip(wice.index, wice["gold_spans"], strict=True)
    ]
    answered = [h for i, h in zip(wice.index, hits, strict=True) if results[i].label == "entailment"]
    served["wice_evidence_hit"] = float(np.mean(hits))
    served["wice_evidence_hit_when_entailed"] = float(np.mean(answered)) if answered else None
    return served, shares


def speed(predictor: Predictor, frame: pd.DataFrame) -> dict:
    """Seconds per SummEdits row as served, and for a 7,000-character document with 3 claims (median of 5)."""
    checker = DocumentChecker(predictor)
    rows = frame[frame["set"] == "summedits"]
    rows = pd.concat([r.head(10) for _, r in rows.groupby("domain")])
    seconds = []
    for document, claim in zip(rows["document"], rows["claim"], strict=True):
        start = time.perf_counter()
        checker.check(document, claim, "en")
        seconds.append(time.perf_counter() - start)
    long = frame[(frame["set"] == "summedits") & (frame["document"].str.len() >= 7000)]
    document = long["document"].iloc[0][:7000]
    sentences = [
        s.text for c in long["claim"][long["document"] == long["document"].iloc[0]] for s in split_sentences(c)
    ]
    claims = " ".join(sentences[:3])
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        result = checker.check(document, claims, "en")
        timings.append(time.perf_counter() - start)
    return {
        "row_median_s": float(np.median(seconds)),
        "row_p95_s": float(np.percentile(seconds, 95)),
        "rows_timed": len(seconds),
        "doc7000_3claims_s": float(np.median(timings)),
        "doc7000_claims": len(result.claims),
        "doc7000_windows": result.windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model folder written by train.py")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help="window settings S@L (see above)")
    parser.add_argument("--rows_per_domain", type=int, default=120)
    parser.add_argument("--wice_rows", type=int, default=349, help="WiCE claims (all 349 by default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", action="store_true", help="also time the checker as served (idle cores)")
    parser.add_argument(
        "--served",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the checker as served (--no-served: only the settings' table)",
    )
    parser.add_argument("--name", default="real_documents", help="results file name under benchmarks/results")
    args = parser.parse_args()

    frame = load(args.rows_per_domain, args.wice_rows, args.seed)
    print(
        f"{len(frame)} rows: "
        + ", ".join(f"{k} {v}" for k, v in frame["domain"].value_counts().items())
        + f"; halves: {frame['half'].value_counts().to_dict()}"
    )
    predictor = Predictor.from_pretrained(args.model, PredictorOptions())
    served_length = predictor.max_length
    documents, claims = frame["document"].tolist(), frame["claim"].tolist()
    languages = ["en"] * len(frame)
    rows, recorded = [], Recorded(predictor)
    for setting in args.settings:
        checker = checker_for(predictor, setting, recorded)
        start = time.perf_counter()
        plans, blocks = checker.window_probabilities(documents, claims, languages)
        seconds = (time.perf_counter() - start) / len(frame)
        windows = np.array([len(p.window_spans) for p in plans])
        for name, aggregate in AGGREGATIONS.items():
            scores = np.array([aggregate(claim_blocks) for claim_blocks in blocks])
            labels = None
            if name == "before":
                labels = np.array([before_rule(b)[0] == "entailment" for b in blocks]).astype(int)
            row = {"setting": setting, "aggregation": name, **score_rows(frame, scores, labels)}
            row.update({"windows_median": float(np.median(windows)), "seconds_per_row": seconds})
            rows.append(row)
            print(
                f"{setting:8} {name:15} SummEdits BA {row['summedits_ba']:.3f} AUC {row['summedits_auc']:.3f}  "
                f"WiCE BA {row['wice_ba']:.3f} AUC {row['wice_auc']:.3f}",
                flush=True,
            )
        # what is measured so far, in case a long run is stopped
        save(args.name, {"model": str(Path(args.model)), "rows": len(frame), "results": rows, "partial": True})
    columns = [
        "setting",
        "aggregation",
        "threshold",
        *[f"{d}_ba" for d in DOMAINS],
        "summedits_ba",
        *[f"{d}_auc" for d in DOMAINS],
        "summedits_auc",
        "wice_ba",
        "wice_auc",
        "windows_median",
        "seconds_per_row",
    ]
    print()
    print_table(rows, columns)

    # the checker as served (its default windows at the model's length) with the module's thresholds, and with
    # the supported threshold fitted on the choose half (summac-zs/min at the served setting, as the module decides)
    predictor.max_length = served_length
    served_rows, shares = [], {}
    setting = served_setting(served_length)
    fitted = [r["threshold"] for r in rows if r["aggregation"] == "summac-zs/min" and r["setting"] == setting]
    candidates = {"module": Thresholds()} if args.served else {}
    if fitted and args.served:
        candidates["fitted"] = Thresholds(supported=round((1 + fitted[0]) / 2, 4))
    for name, thresholds in candidates.items():
        checker = DocumentChecker(predictor, recorded, thresholds=thresholds)
        results = checker.check_many(documents, claims, languages)
        served, label_shares = served_row(frame, results)
        served["setting"] = f"served ({checker.max_sentences or 'fit'}@{served_length})"
        served["aggregation"] = f"{name} (supported {thresholds.supported}, contradicted {thresholds.contradicted})"
        served_rows.append(served)
        shares[name] = label_shares
    if served_rows:
        print("\nthe checker as served:")
        columns = columns[:2] + columns[3:-2] + ["wice_evidence_hit", "wice_evidence_hit_when_entailed"]
        print_table(served_rows, columns)
    for name, label_shares in shares.items():
        print(f"\nlabel shares, {name} thresholds:")
        print_table(label_shares, ["domain", *LABELS])
    timing = speed(predictor, frame) if args.speed else None
    if timing:
        print("\nspeed as served:", json.dumps(timing))
    save(
        args.name,
        {
            "model": str(Path(args.model)),
            "rows": len(frame),
            "results": rows,
            "served": served_rows,
            "label_shares": shares,
            "speed": timing,
        },
    )


if __name__ == "__main__":
    main()
