"""Sentence segmenters on real text in the competition's 15 languages: which one document mode splits with.

    python benchmarks/segmenters.py --sentences_per_document 5

Gold boundaries come from SIB-200 (../shared/data/sib200/train.csv.gz, never committed): its 701 Flores sentences
per language, `--sentences_per_document` consecutive ones joined into a document (by a space; in Chinese without
one, as Chinese text runs on). A segmenter is right at a boundary when one of its sentences starts exactly where a
gold sentence starts. Reported per language and segmenter: boundary precision, recall and F1 (the first sentence's
start does not count), documents split exactly right, and characters per second (one core, the whole language's
documents in one loop). A regular expression that splits after . ! ? and their CJK and Devanagari/Arabic forms is
the floor any library must beat; "ours" is what document mode uses (`inference.documents.split_sentences`).
"""

from __future__ import annotations

import argparse
import gzip
import re
import time
from collections.abc import Callable

import pandas as pd
from common import ROOT, print_table, save

SIB = ROOT.parent / "shared" / "data" / "sib200" / "train.csv.gz"
NO_SPACE = {"zh"}  # scripts whose sentences follow each other without a space
PYSBD = {"ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "ur", "zh"}  # of ours, the languages pysbd knows

Segmenter = Callable[[str, str], list[int]]
"""(text, language) -> the start offset of every sentence found."""

_ENDS = re.compile(r"(?<=[.!?。！？।؟۔])\s*")


def regex_starts(text: str, _language: str) -> list[int]:
    starts = [0] + [m.end() for m in _ENDS.finditer(text) if m.end() < len(text)]
    return sorted(set(starts))


def sentencex_starts(text: str, language: str) -> list[int]:
    import sentencex

    return [_skip_space(text, b["start_index"]) for b in sentencex.get_sentence_boundaries(language, text)]


def pysbd_starts(text: str, language: str) -> list[int]:
    import pysbd

    segmenter = _PYSBD.get(language)
    if segmenter is None:
        segmenter = _PYSBD[language] = pysbd.Segmenter(
            language=language if language in PYSBD else "en", clean=False, char_span=True
        )
    return [_skip_space(text, span.start) for span in segmenter.segment(text)]


def blingfire_starts(text: str, _language: str) -> list[int]:
    import blingfire

    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    return [start for start, _ in offsets]


def ours_starts(text: str, language: str) -> list[int]:
    from contradiction.inference.sentences import split_sentences

    return [span.start for span in split_sentences(text, language)]


_PYSBD: dict = {}

SEGMENTERS: dict[str, Segmenter] = {
    "regex": regex_starts,
    "sentencex": sentencex_starts,
    "pysbd": pysbd_starts,
    "blingfire": blingfire_starts,
    "ours": ours_starts,  # inference.documents.split_sentences: sentencex, and pythainlp's CRF model for Thai
}


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def documents(sentences: list[str], per_document: int, language: str) -> list[tuple[str, set[int]]]:
    """Consecutive sentences joined into documents, each with the offsets where its sentences after the first start."""
    joiner = "" if language in NO_SPACE else " "
    out = []
    for first in range(0, len(sentences) - per_document + 1, per_document):
        text, starts = "", set()
        for sentence in sentences[first : first + per_document]:
            if text:
                text += joiner
                starts.add(len(text))
            text += sentence.strip()
        out.append((text, starts))
    return out


def score(segmenter: Segmenter, docs: list[tuple[str, set[int]]], language: str) -> dict:
    found = gold = right = exact = 0
    start = time.perf_counter()
    predicted = [segmenter(text, language) for text, _ in docs]
    seconds = time.perf_counter() - start
    for (_, starts), guess in zip(docs, predicted, strict=True):
        inner = {s for s in guess if s > 0}
        found, gold, right = found + len(inner), gold + len(starts), right + len(inner & starts)
        exact += inner == starts
    precision, recall = right / max(found, 1), right / max(gold, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    chars = sum(len(text) for text, _ in docs)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "exact": exact / len(docs),
        "chars_per_s": chars / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences_per_document", type=int, default=5)
    parser.add_argument("--segmenters", nargs="+", default=list(SEGMENTERS), choices=list(SEGMENTERS))
    args = parser.parse_args()

    with gzip.open(SIB, "rt", encoding="utf-8") as f:
        frame = pd.read_csv(f)
    frame["n"] = frame["id"].str.split("-").str[1].astype(int)
    rows, overall = [], {name: [] for name in args.segmenters}
    for language, group in frame.sort_values("n").groupby("lang_abv", sort=True):
        docs = documents(group["text"].tolist(), args.sentences_per_document, language)
        for name in args.segmenters:
            result = score(SEGMENTERS[name], docs, language)
            rows.append({"language": language, "segmenter": name, **result})
            overall[name].append(result)
    summary = []
    for name, results in overall.items():
        mean = {key: sum(r[key] for r in results) / len(results) for key in results[0]}
        worst = min(results, key=lambda r: r["f1"])
        worst_language = next(r["language"] for r in rows if r["segmenter"] == name and r["f1"] == worst["f1"])
        summary.append({"segmenter": name, **mean, "worst_f1": worst["f1"], "worst_language": worst_language})
    columns = ["precision", "recall", "f1", "exact", "chars_per_s"]
    print(
        f"documents of {args.sentences_per_document} SIB-200 sentences, {len(rows) // len(args.segmenters)} "
        "languages; mean over languages\n"
    )
    print_table(summary, ["segmenter", *columns, "worst_f1", "worst_language"])
    print("\nF1 per language\n")
    wide = pd.DataFrame(rows).pivot(index="language", columns="segmenter", values="f1")[args.segmenters]
    print_table(
        [{"language": lang, **row} for lang, row in wide.round(3).to_dict("index").items()],
        ["language", *args.segmenters],
    )
    save("segmenters", {"sentences_per_document": args.sentences_per_document, "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
