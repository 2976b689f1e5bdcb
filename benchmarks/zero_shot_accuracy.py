"""Zero-shot topic classification on real multilingual text: SIB-200's 7 topics in the competition's 15 languages.

    python benchmarks/zero_shot_accuracy.py --model /work/runs/e5-small-extra --per_language 701

For each language: accuracy and macro-F1 of the NLI model as a zero-shot classifier, with (a) the English template
and English topic names, (b) template and topic names in the text's language (our translations below), against
always answering the most common topic. The data is ../shared/data/sib200/train.csv.gz (never committed).
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, print_table, save

from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import ZeroShotClassifier, ZeroShotTask
from contradiction.metrics import confusion_matrix, macro_f1

SIB = ROOT.parent / "shared" / "data" / "sib200" / "train.csv.gz"
TOPICS = ("science and technology", "travel", "politics", "sports", "health", "entertainment", "geography")
# per language: the template, then the 7 topics in TOPICS' order (our own translations)
NATIVE = {
    "en": ("This text is about {}.", TOPICS),
    "ar": ("هذا النص عن {}.", ("العلوم والتكنولوجيا", "السفر", "السياسة", "الرياضة", "الصحة", "الترفيه", "الجغرافيا")),
    "bg": (
        "Този текст е за {}.",
        ("наука и технологии", "пътуване", "политика", "спорт", "здраве", "развлечения", "география"),
    ),
    "de": (
        "Dieser Text handelt von {}.",
        ("Wissenschaft und Technik", "Reisen", "Politik", "Sport", "Gesundheit", "Unterhaltung", "Geographie"),
    ),
    "el": (
        "Αυτό το κείμενο αφορά {}.",
        ("επιστήμη και τεχνολογία", "ταξίδια", "πολιτική", "αθλητισμό", "υγεία", "ψυχαγωγία", "γεωγραφία"),
    ),
    "es": (
        "Este texto trata de {}.",
        ("ciencia y tecnología", "viajes", "política", "deportes", "salud", "entretenimiento", "geografía"),
    ),
    "fr": (
        "Ce texte parle de {}.",
        ("science et technologie", "voyages", "politique", "sport", "santé", "divertissement", "géographie"),
    ),
    "hi": ("यह पाठ {} के बारे में है।", ("विज्ञान और प्रौद्योगिकी", "यात्रा", "राजनीति", "खेल", "स्वास्थ्य", "मनोरंजन", "भूगोल")),
    "ru": (
        "Тема этого текста: {}.",
        ("наука и технологии", "путешествия", "политика", "спорт", "здоровье", "развлечения", "география"),
    ),
    "sw": (
        "Maandishi haya yanahusu {}.",
        ("sayansi na teknolojia", "usafiri", "siasa", "michezo", "afya", "burudani", "jiografia"),
    ),
    "th": (
        "ข้อความนี้เกี่ยวกับ{}",
        ("วิทยาศาสตร์และเทคโนโลยี", "การท่องเที่ยว", "การเมือง", "กีฬา", "สุขภาพ", "ความบันเทิง", "ภูมิศาสตร์"),
    ),
    "tr": (
        "Bu metnin konusu: {}.",
        ("bilim ve teknoloji", "seyahat", "siyaset", "spor", "sağlık", "eğlence", "coğrafya"),
    ),
    "ur": ("یہ متن {} کے بارے میں ہے۔", ("سائنس اور ٹیکنالوجی", "سفر", "سیاست", "کھیل", "صحت", "تفریح", "جغرافیہ")),
    "vi": (
        "Văn bản này nói về {}.",
        ("khoa học và công nghệ", "du lịch", "chính trị", "thể thao", "sức khỏe", "giải trí", "địa lý"),
    ),
    "zh": ("这段文字是关于{}的。", ("科学技术", "旅行", "政治", "体育", "健康", "娱乐", "地理")),
}


def load(per_language: int, seed: int) -> pd.DataFrame:
    with gzip.open(SIB, "rt", encoding="utf-8") as f:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
    unknown = set(df["label"]) - set(TOPICS)
    if unknown:
        raise SystemExit(f"{SIB} has topics this script does not know: {sorted(unknown)}")
    # the same sentences in every language (SIB-200's ids share the number after the language code)
    df["item"] = df["id"].str.split("-", n=1).str[1]
    items = sorted(df["item"].unique())
    keep = set(np.random.default_rng(seed).permutation(items)[:per_language])
    return df[df["item"].isin(keep)].reset_index(drop=True)


def evaluate(gold: np.ndarray, predicted: np.ndarray) -> dict:
    matrix = confusion_matrix(gold, predicted, num_labels=len(TOPICS))
    return {"accuracy": float((gold == predicted).mean()), "macro_f1": macro_f1(matrix)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the NLI model folder (e.g. configs/cpu-small-extra.yaml's)")
    parser.add_argument("--per_language", type=int, default=701, help="sentences per language (701: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_fast", action="store_true", help="float32 instead of bfloat16")
    args = parser.parse_args()

    df = load(args.per_language, args.seed)
    predictor = Predictor.from_pretrained(args.model, PredictorOptions(fast=not args.no_fast))
    classifier = ZeroShotClassifier.from_predictor(predictor)
    gold = df["label"].map(TOPICS.index).to_numpy()
    majority = np.bincount(gold, minlength=len(TOPICS)).argmax()  # over all languages: the same sentences in each

    rows, seconds = [], {}
    predictions = {"english": np.zeros(len(df), dtype=int), "native": np.zeros(len(df), dtype=int)}
    for setting in predictions:
        start = time.perf_counter()
        for lang, group in df.groupby("lang_abv"):
            template, names = NATIVE[lang] if setting == "native" else NATIVE["en"]
            scores = classifier.score(group["text"].tolist(), ZeroShotTask.create(list(names), template))
            predictions[setting][group.index.to_numpy()] = scores.argmax(axis=1)
        seconds[setting] = time.perf_counter() - start
    for lang, group in [("all", df), *df.groupby("lang_abv")]:
        idx = group.index.to_numpy()
        row = {"language": lang, "texts": len(idx)}
        row.update({f"majority_{k}": v for k, v in evaluate(gold[idx], np.full(len(idx), majority)).items()})
        for setting, predicted in predictions.items():
            row.update({f"{setting}_{k}": v for k, v in evaluate(gold[idx], predicted[idx]).items()})
        rows.append(row)
    columns = [
        "language",
        "texts",
        "majority_accuracy",
        "majority_macro_f1",
        "english_accuracy",
        "english_macro_f1",
        "native_accuracy",
        "native_macro_f1",
    ]
    print_table(rows, columns)
    pairs = len(df) * len(TOPICS)
    for setting, s in seconds.items():
        print(f"{setting}: {pairs} pairs in {s:.1f} s ({pairs / s:.0f} pairs/s, {predictor.precision})")
    save(
        "zero_shot_accuracy",
        {
            "model": str(Path(args.model).resolve()),
            "per_language": args.per_language,
            "seed": args.seed,
            "precision": predictor.precision,
            "majority_topic": TOPICS[majority],
            "seconds": seconds,
            "rows": rows,
            "native_templates": {lang: template for lang, (template, _) in NATIVE.items()},
        },
    )


if __name__ == "__main__":
    main()
