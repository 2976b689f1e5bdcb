"""Claims checked against documents: a validation pair's premise hidden among six other premises.

    python benchmarks/documents.py --model /work/runs/e5-small-extra

For each pair of the model's validation split (never trained on), a document of 7 premises: its own at a random
position among 6 premises of other validation pairs in the same language (joined by a space; in Chinese without
one), the hypothesis and the label kept (the hidden premise decides entailment or contradiction; none decides a
neutral pair). Accuracy of (a) the plain pair, (b) the document cut to the model's window, as served without
document mode, (c) document mode (`inference.documents`) with its defaults and with other window sizes
(`--default_only`: the defaults alone); overall, per language and by the hidden premise's position. Beside the
module's rule (`decide`: a consistency score for entailment, a window sure of contradiction for contradiction), on
the same windows: the rule served until 2026-12-02 (the window least likely neutral decides with its top label), and
the module's rule over a grid of its two thresholds (`Thresholds.supported`, `Thresholds.contradicted`), the best
pair chosen on the even rows and reported on the odd rows (the real documents of benchmarks/real_documents.py say
entailment or not, never contradiction: this is the one set with all three labels that fits the thresholds).
Also: how often the evidence of a right entailment or contradiction is the hidden premise, and the
time per document (one process, nothing else on the cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_MODEL, print_table, save

from contradiction.data.competition import load_prepared
from contradiction.inference.documents import NEUTRAL, DocumentChecker, Thresholds, combine, decide
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.labels import LABELS
from contradiction.languages import get_detector

OTHERS = 6
SETTINGS = (("auto", 2), ("always", 2), ("always", 1), ("always", 3), ("always", None))  # split, max_sentences
CONTRADICTED = (0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)  # contradiction thresholds tried
SUPPORTED = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)  # supported thresholds tried


def build(validation, seed: int) -> list[dict]:
    """One document per validation pair: its premise at a random position among OTHERS premises of the language."""
    rng = np.random.default_rng(seed)
    by_language: dict[str, list[int]] = {}
    for i, lang in enumerate(validation["lang_abv"]):
        by_language.setdefault(lang, []).append(i)
    premises = validation["premise"]
    docs = []
    for i, (lang, hypothesis, label) in enumerate(
        zip(validation["lang_abv"], validation["hypothesis"], validation["label"], strict=True)
    ):
        pool = [j for j in by_language[lang] if premises[j] != premises[i]]
        others = [premises[j] for j in rng.choice(pool, size=min(OTHERS, len(pool)), replace=False)]
        position = int(rng.integers(0, len(others) + 1))
        parts = [p.strip() for p in others[:position] + [premises[i]] + others[position:]]
        joiner = "" if lang == "zh" else " "
        document = joiner.join(parts)
        start = len(joiner.join(parts[:position])) + (len(joiner) if position else 0)
        docs.append(
            {
                "document": document,
                "hypothesis": hypothesis,
                "label": int(label),
                "language": lang,
                "position": position,
                "hidden": (start, start + len(parts[position])),
            }
        )
    return docs


def accuracy(predicted, docs, where=None) -> float:
    """Accuracy over the documents `where(i, doc)` keeps (all without it)."""
    rows = [i for i in range(len(docs)) if where is None or where(i, docs[i])]
    return float(np.mean([predicted[i] == docs[i]["label"] for i in rows])) if rows else float("nan")


def window_blocks(checker: DocumentChecker, docs: list[dict], languages: list, probs: np.ndarray) -> list:
    """Each document's claims' window probabilities, from the probabilities of `check_many`'s first pass (its
    windows, document by document and claim by claim)."""
    plans = [checker.plan(d["document"], d["hypothesis"], lang) for d, lang in zip(docs, languages, strict=True)]
    blocks, at = [], 0
    for plan in plans:
        n = len(plan.window_spans)
        blocks.append([probs[at + k * n : at + (k + 1) * n] for k in range(len(plan.claims))])
        at += n * len(plan.claims)
    assert at == len(probs)
    return blocks


def before(block: np.ndarray) -> int:
    """The rule served until 2026-12-02: the window least likely neutral decides, with its most probable label."""
    return int(block[int(block[:, NEUTRAL].argmin())].argmax())


def labels_of(blocks, rule) -> list[int]:
    """The document label (index) from each document's claims' window probabilities, by `rule`."""
    return [LABELS.index(combine([LABELS[rule(block)] for block in claims])) for claims in blocks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a model folder written by train.py")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="the first N validation pairs only (a quick look)")
    parser.add_argument("--default_only", action="store_true", help="only the module's default windows")
    args = parser.parse_args()

    folder = Path(args.model)
    predictor = Predictor.from_pretrained(folder, PredictorOptions())
    validation = load_prepared(folder / "data")[0]["validation"]
    if args.limit:
        validation = validation.select(range(args.limit))
    docs = build(validation, args.seed)
    gold = [d["label"] for d in docs]
    print(
        f"{len(docs)} documents of {OTHERS + 1} premises; model {folder} ({predictor.precision}, "
        f"{predictor.max_length} tokens)"
    )

    plain = predictor.predict_proba(validation["premise"], validation["hypothesis"]).argmax(axis=1).tolist()
    start = time.perf_counter()
    truncated = predictor.predict_proba([d["document"] for d in docs], [d["hypothesis"] for d in docs])
    truncated_s = (time.perf_counter() - start) / len(docs)
    truncated = truncated.argmax(axis=1).tolist()
    cut = sum(
        total > read
        for read, total in predictor.token_counts([d["document"] for d in docs], [d["hypothesis"] for d in docs])
    )

    detector = get_detector()
    languages = detector.detect_many([d["document"] for d in docs])
    methods = {"(a) plain pair": plain, "(b) document, cut to the window": truncated}
    extra, sweeps = {}, {}
    even = [i % 2 == 0 for i in range(len(docs))]

    def odd(i: int, _doc: dict) -> bool:
        return i % 2 == 1

    settings = SETTINGS[:1] if args.default_only else SETTINGS
    for split, most in settings:
        passes = []

        def recorded(premises, hypotheses, passes=passes):
            passes.append(predictor.predict_proba(premises, hypotheses))
            return passes[-1]

        checker = DocumentChecker(predictor, recorded, split=split, max_sentences=most)
        split = f"{split}, {'as many sentences as fit' if most is None else f'at most {most} sentence(s)'}"
        start = time.perf_counter()
        results = checker.check_many([d["document"] for d in docs], [d["hypothesis"] for d in docs], languages)
        seconds = (time.perf_counter() - start) / len(docs)
        blocks = window_blocks(checker, docs, languages, passes[0])
        assert labels_of(blocks, lambda b: decide(b)[0]) == [LABELS.index(r.label) for r in results]
        grid = [(s, t) for s in SUPPORTED for t in CONTRADICTED]
        rules = {st: Thresholds(*st) for st in grid}
        sweep = {st: labels_of(blocks, lambda b, rule=rule: decide(b, rule)[0]) for st, rule in rules.items()}
        tuned = max(grid, key=lambda st: np.mean([sweep[st][i] == gold[i] for i in range(len(docs)) if even[i]]))
        old_rule = labels_of(blocks, before)
        sweeps[split] = {
            "tuned_on_even_rows": {"supported": tuned[0], "contradicted": tuned[1]},
            "accuracy_by_threshold": {f"{s}/{t}": accuracy(sweep[(s, t)], docs) for s, t in grid},
            "odd_rows_at_tuned": accuracy(sweep[tuned], docs, odd),
            "odd_rows_module_rule": accuracy([LABELS.index(r.label) for r in results], docs, odd),
            "rule_before": accuracy(old_rule, docs),
            "odd_rows_rule_before": accuracy(old_rule, docs, odd),
        }
        name = f"(c) document mode, {split}"
        methods[name] = [LABELS.index(r.label) for r in results]
        found = [
            (
                r.claims[0].evidence is not None
                and r.claims[0].evidence.start < d["hidden"][1]
                and d["hidden"][0] < r.claims[0].evidence.end
            )
            for r, d in zip(results, docs, strict=True)
            if LABELS[d["label"]] != "neutral" and r.label == LABELS[d["label"]]
        ]
        extra[name] = {
            "seconds_per_document": seconds,
            "windows_per_document": float(np.mean([r.windows for r in results])),
            "pairs_per_document": float(np.mean([r.pairs for r in results])),
            "evidence_is_hidden_premise": float(np.mean(found)) if found else None,
        }
    extra["(b) document, cut to the window"] = {"seconds_per_document": truncated_s, "documents_cut": cut}

    rows = []
    for name, predicted in methods.items():
        row = {"method": name, "accuracy": accuracy(predicted, docs), "odd_rows": accuracy(predicted, docs, odd)}
        for position in range(OTHERS + 1):
            row[f"pos{position}"] = accuracy(predicted, docs, lambda _, d, p=position: d["position"] == p)
        row.update(extra.get(name, {}))
        rows.append(row)
    print_table(
        rows,
        [
            "method",
            "accuracy",
            "odd_rows",
            *[f"pos{p}" for p in range(OTHERS + 1)],
            "seconds_per_document",
            "windows_per_document",
            "evidence_is_hidden_premise",
        ],
    )
    print(
        "\nthe thresholds (supported/contradicted) on the same windows (odd rows at the pair best on the even rows; "
        "the five best pairs on all documents), and the rule served before:"
    )
    for split, sweep in sweeps.items():
        print(
            f"  {split}: T={sweep['tuned_on_even_rows']}, odd rows {sweep['odd_rows_at_tuned']:.3f} (the module's "
            f"rule {sweep['odd_rows_module_rule']:.3f}; the rule before {sweep['rule_before']:.3f}, odd rows "
            f"{sweep['odd_rows_rule_before']:.3f}); "
            + ", ".join(
                f"{t}: {a:.3f}" for t, a in sorted(sweep["accuracy_by_threshold"].items(), key=lambda x: -x[1])[:5]
            )
        )
    per_language, keys = [], ["plain", "cut", *[f"{s}/{m or 'fit'}" for s, m in settings]]
    for lang in sorted({d["language"] for d in docs}):
        row = {"language": lang, "documents": sum(d["language"] == lang for d in docs)}
        for key, predicted in zip(keys, methods.values(), strict=True):
            row[key] = accuracy(predicted, docs, lambda _, d, lang=lang: d["language"] == lang)
        per_language.append(row)
    print()
    print_table(per_language, ["language", "documents", *keys])
    print("  columns: " + "; ".join(f"{k} {name}" for k, name in zip(keys, methods, strict=True)))
    save(
        "documents",
        {"model": str(folder), "documents": len(docs), "methods": rows, "sweeps": sweeps, "per_language": per_language},
    )


if __name__ == "__main__":
    main()
