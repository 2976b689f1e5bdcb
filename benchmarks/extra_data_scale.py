"""The GPU recipe's data stage at XNLI's size, on a CPU: wall time and peak memory per process, 1 and 2 processes.

configs/xlmr-large-xnli.yaml reads XNLI `all_languages` (392,702 items x 15 languages) from the Hub. This writes a
stand-in of that shape (a save_to_disk folder with the Hub config's features, random sentences of XNLI-like
lengths in each language's script), then runs the recipe's data stage on it (competition data, the extra data
built and deduplicated, the tiny model's tokenizer, tokenization: what train.py does before the model) under
`accelerate launch` with 1 and 2 processes, and last a smoke run of the whole recipe with --max_steps 2.
The stand-in replaces the recipe's two Hub sources (MultiNLI is left out); nothing is downloaded.

    python benchmarks/extra_data_scale.py                 # full size: 392,702 items (an idle machine, ~30 min)
    python benchmarks/extra_data_scale.py --rows 20000    # a quick check that it works

Goal at full size: peak RSS of the data stage <= 3 GB per process, the second rank adding <= 0.5 GB, and the
smoke run under 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, peak_rss_mb, print_table, save

RECIPE = ROOT / "configs" / "xlmr-large-xnli.yaml"
XNLI_ROWS = 392_702
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
# letters each language's words are drawn from: its script, so the bytes per character are as in XNLI
SCRIPTS = {
    "ar": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "ur": "ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنوہھءیے",
    "bg": "абвгдежзийклмнопрстуфхцчшщъьюя",
    "ru": "абвгдежзийклмнопрстуфхцчшщъыьэюя",
    "el": "αβγδεζηθικλμνξοπρστυφχψω",
    "hi": "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसह",
    "th": "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮ",
    "zh": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
    "de": "abcdefghijklmnopqrstuvwxyzäöüß",
    "fr": "abcdefghijklmnopqrstuvwxyzéèàç",
    "es": "abcdefghijklmnopqrstuvwxyzñáé",
    "tr": "abcçdefgğhıijklmnoöprsştuüvyz",
    "vi": "abcdđeghiklmnopqrstuvxyăâêôơư",
    "en": "abcdefghijklmnopqrstuvwxyz",
    "sw": "abcdefghijklmnoprstuvwyz",
}
# words per sentence in MultiNLI (premises ~22, hypotheses ~11); Chinese is written without spaces
PREMISE_WORDS, HYPOTHESIS_WORDS = (22, 10), (11, 4)


def write_standin(folder: Path, rows: int, seed: int = 0) -> Path:
    """A save_to_disk folder of `rows` XNLI `all_languages` items: the Hub config's features, random sentences."""
    import numpy as np
    from datasets import ClassLabel, Dataset, Features, Translation, TranslationVariableLanguages

    from contradiction.labels import LABELS

    rng = np.random.default_rng(seed)
    vocab = {
        code: ["".join(rng.choice(list(letters), rng.integers(2, 9))) for _ in range(3000)]
        for code, letters in SCRIPTS.items()
    }
    features = Features(
        {
            "premise": Translation(languages=list(XNLI_LANGUAGES)),
            "hypothesis": TranslationVariableLanguages(languages=list(XNLI_LANGUAGES)),
            "label": ClassLabel(names=list(LABELS)),
        }
    )

    def sentence(code: str, mean_sd: tuple[int, int]) -> str:
        words = vocab[code]
        n = int(min(max(rng.normal(*mean_sd), 2), 80))
        return ("" if code == "zh" else " ").join(words[i] for i in rng.integers(0, len(words), n)) + "."

    def items():
        for _ in range(rows):
            yield {
                "premise": {code: sentence(code, PREMISE_WORDS) for code in XNLI_LANGUAGES},
                "hypothesis": {
                    "language": list(XNLI_LANGUAGES),
                    "translation": [sentence(code, HYPOTHESIS_WORDS) for code in XNLI_LANGUAGES],
                },
                "label": int(rng.integers(0, 3)),
            }

    with tempfile.TemporaryDirectory(prefix="xnli-standin-") as cache:
        Dataset.from_generator(items, features=features, cache_dir=cache).save_to_disk(str(folder))
    return folder


def recipe_flags(standin: Path, output_dir: Path, *extra: str) -> list[str]:
    """The GPU recipe with the tiny model, the sample competition data and the stand-in in place of the Hub."""
    sample = ROOT / "data" / "sample"
    return [
        str(RECIPE),
        "--model_name_or_path",
        "tiny-xlmr",
        "--train_file",
        str(sample / "train.csv"),
        "--test_file",
        str(sample / "test.csv"),
        "--extra_data",
        f"{standin},license=cc-by-nc-4.0,versions_per_item=2",
        "--output_dir",
        str(output_dir),
        "--bf16",
        "false",
        "--use_cpu",
        "true",
        "--report_to",
        "none",
        *extra,
    ]


def data_stage(flags: list[str], report: Path) -> None:
    """train.py up to the model: data, extra data, tokenizer, tokenization; one JSON line per process."""
    from transformers import AutoTokenizer

    from contradiction.tiny import cached_tiny_model
    from contradiction.training.arguments import parse_args
    from contradiction.training.pipeline import add_extra_data, limit, load_data, tokenize

    start, imported_mb = time.perf_counter(), peak_rss_mb()  # python, torch, transformers, datasets
    _, data_args, args = parse_args(flags)
    splits, data_report = load_data(data_args, args)
    splits, data_report = add_extra_data(splits, data_report, data_args, args)
    extra_s, extra_mb = time.perf_counter() - start, peak_rss_mb()
    splits = limit(splits, data_args)
    with args.main_process_first(desc="tiny model"):
        tokenizer = AutoTokenizer.from_pretrained(cached_tiny_model(args.seed))
    encoded = tokenize(splits, tokenizer, data_args, args)
    line = {
        "rank": args.process_index,
        "processes": args.world_size,
        "extra_rows": len(encoded["extra"]),
        "extra_data_s": extra_s,
        "extra_data_peak_rss_mb": extra_mb,
        "data_stage_s": time.perf_counter() - start,
        "peak_rss_mb": peak_rss_mb(),
        "imports_rss_mb": imported_mb,
        "data_rss_mb": peak_rss_mb() - imported_mb,
    }
    with open(report, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def launch(processes: int, command: list[str], env: dict | None = None) -> float:
    """Run `command` (a script and its arguments) under accelerate launch; return the wall time."""
    multi = ["--multi_gpu"] if processes > 1 else []
    multi += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # no warning for defaults
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", *multi, "--num_processes", str(processes), *command],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=XNLI_ROWS, help="items in the stand-in (XNLI: 392,702)")
    parser.add_argument("--workdir", help="where the stand-in and the runs go (default: a temporary folder)")
    parser.add_argument("--name", default=None, help="results file name (default extra_data_scale[_ROWS])")
    parser.add_argument("--worker", nargs=2, metavar=("REPORT", "FLAGS_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # one process of the data stage, under accelerate launch
        data_stage(json.loads(args.worker[1]), Path(args.worker[0]))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="extra-data-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    standin = write_standin(work / "xnli-standin", args.rows)
    print(f"stand-in: {args.rows} items in {time.perf_counter() - start:.0f} s ({standin})", flush=True)

    rows = []
    for processes, case in ((1, "build"), (1, "reuse"), (2, "build")):
        out = work / f"run-{processes}"
        if case == "build":
            shutil.rmtree(out, ignore_errors=True)
        report = work / f"{case}-{processes}.jsonl"
        report.unlink(missing_ok=True)
        flags = json.dumps(recipe_flags(standin, out))
        wall = launch(processes, [__file__, "--worker", str(report), flags], env)
        for line in sorted(map(json.loads, report.read_text().splitlines()), key=lambda r: r["rank"]):
            rows.append({"case": case, **line, "wall_s": wall})
        print(f"{processes} process(es), {case}: {wall:.0f} s", flush=True)

    out = work / "smoke"
    shutil.rmtree(out, ignore_errors=True)
    smoke_s = launch(1, [str(ROOT / "train.py"), *recipe_flags(standin, out, "--max_steps", "2")], env)
    results = json.loads((out / "eval_results.json").read_text())
    smoke = {"wall_s": smoke_s, "stage_one_steps": results["extra_stage"]["steps"], "rows": args.rows}
    print(f"smoke run of {RECIPE.name} with --max_steps 2: {smoke_s:.0f} s", flush=True)

    print()
    columns = [
        "case",
        "processes",
        "rank",
        "extra_rows",
        "extra_data_s",
        "extra_data_peak_rss_mb",
        "data_stage_s",
        "imports_rss_mb",
        "peak_rss_mb",
        "data_rss_mb",
        "wall_s",
    ]
    print_table(rows, columns)
    name = args.name or ("extra_data_scale" if args.rows == XNLI_ROWS else f"extra_data_scale_{args.rows}")
    goal = "full size: peak RSS <= 3000 MB per process, rank 1 adding <= 500 MB, smoke run < 300 s"
    save(
        name,
        {"goal": goal, "items": args.rows, "recipe": str(RECIPE.relative_to(ROOT)), "rows": rows, "smoke_run": smoke},
    )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
