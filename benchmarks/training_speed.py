"""Training throughput: dynamic padding + length grouping against padding every pair to 256 tokens.

Same backbone, same real data, same number of steps and batch size; each mode runs in its own process
(so each has its own peak memory), one after the other in this run.

    python benchmarks/training_speed.py --steps 200 --batch_size 16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from common import BACKBONE, WATSON, peak_rss_mb, print_table, save

MODES = {
    # what a naive setup does (and what the original project did): every pair padded to 256 tokens
    "pad-256": {"pad_to_max_length": True, "train_sampling_strategy": "random"},
    # ours: pad each batch to its longest pair, batches of similar length
    "dynamic+grouped": {"pad_to_max_length": False, "train_sampling_strategy": "group_by_length"},
}


def run_mode(mode: str, steps: int, batch_size: int, model: str) -> dict:
    """Train `steps` steps in this process and return throughput and peak memory."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainingArguments,
    )

    from contradiction.data.competition import prepare
    from contradiction.labels import ID2LABEL, LABEL2ID
    from contradiction.training.arguments import DataArguments
    from contradiction.training.pipeline import tokenize
    from contradiction.training.trainer import NLITrainer

    settings = MODES[mode]
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            learning_rate=5e-5,
            train_sampling_strategy=settings["train_sampling_strategy"],
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            use_cpu=True,
            logging_steps=max(steps, 1),
            disable_tqdm=True,
            seed=42,
        )
        data_args = DataArguments(train_file="x", max_seq_length=256, pad_to_max_length=settings["pad_to_max_length"])
        splits, _ = prepare(WATSON / "train.csv")
        tokenizer = AutoTokenizer.from_pretrained(model)
        train = tokenize(splits, tokenizer, data_args, args)["train"]
        net = AutoModelForSequenceClassification.from_pretrained(
            model, num_labels=3, id2label=ID2LABEL, label2id=LABEL2ID
        )
        trainer = NLITrainer(
            model=net,
            args=args,
            train_dataset=train,
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "steps": steps,
        "batch_size": batch_size,
        "seconds": seconds,
        "samples_per_s": steps * batch_size / seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--model", default=BACKBONE, help="backbone folder or Hub id (multilingual-e5-small)")
    parser.add_argument("--mode", choices=list(MODES), help=argparse.SUPPRESS)  # one mode, in a child process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.steps, args.batch_size, args.model)))
        return
    rows = []
    for mode in MODES:
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--steps",
                str(args.steps),
                "--batch_size",
                str(args.batch_size),
                "--model",
                args.model,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"{mode}: {rows[-1]['samples_per_s']:.1f} samples/s", flush=True)
    baseline = rows[0]["samples_per_s"]
    for row in rows:
        row["speedup"] = row["samples_per_s"] / baseline
    print()
    print_table(rows, ["mode", "steps", "batch_size", "seconds", "samples_per_s", "speedup", "peak_rss_mb"])
    save("training_speed", {"goal": "dynamic+grouped >= 2.5x pad-256", "rows": rows})


if __name__ == "__main__":
    main()
