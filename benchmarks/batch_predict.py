"""Batch prediction of generated files: memory against file size, 1 against 2 processes, a killed run resumed.

- `memory`: the smoke model (tiny XLM-R, built on the fly) over generated files of 20,000 and 200,000 pairs,
  one process each; peak RSS must not grow with the file (within 10%).
- `processes`: the same file through 1 process (`python -m contradiction.predict`) and 2 processes
  (`accelerate launch --multi_gpu --num_processes 2 -m contradiction.predict`); the outputs must be the same bytes.
  The model is multilingual-e5-small with a fresh 3-label head (the speed of the fine-tuned model, without it).
- `resume`: the 20,000-pair run killed half way (`tests/killed_run.py`: SIGKILL between writing a chunk and
  recording it), then `--resume`d; the outputs must be the bytes of the uninterrupted run (from `memory`).

Pairs are the sample data's 180 pairs over and over, each with its own id. Each run is its own process.

    python benchmarks/batch_predict.py                      # all three
    python benchmarks/batch_predict.py --experiments memory --formats csv jsonl parquet
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BACKBONE, ROOT, peak_rss_mb, print_table, save

SAMPLE = ROOT / "data" / "sample"
COLUMNS = ["id", "premise", "hypothesis", "lang_abv", "language"]
EXPERIMENTS = ["memory", "processes", "resume"]


def sample_rows() -> list[dict[str, str]]:
    rows = []
    for name in ("test.csv", "train.csv"):
        with open(SAMPLE / name, encoding="utf-8", newline="") as f:
            rows += [{c: row[c] for c in COLUMNS} for row in csv.DictReader(f)]
    return rows


def generate(path: Path, pairs: int) -> Path:
    """Write `pairs` rows to `path` (.csv, .jsonl or .parquet), a block at a time: the generator stays small too."""
    rows = sample_rows()

    def block(start: int, stop: int) -> list[dict[str, str]]:
        return [{**rows[i % len(rows)], "id": f"p{i:08d}"} for i in range(start, stop)]

    step = 10_000  # also the Parquet row group: a reader holds one group at a time
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(c, pa.string()) for c in COLUMNS])
        with pq.ParquetWriter(path, schema) as writer:
            for start in range(0, pairs, step):
                writer.write_table(pa.Table.from_pylist(block(start, min(start + step, pairs)), schema=schema))
        return path
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS) if path.suffix == ".csv" else None
        if writer is not None:
            writer.writeheader()
        for start in range(0, pairs, step):
            for row in block(start, min(start + step, pairs)):
                if writer is not None:
                    writer.writerow(row)
                else:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def build_e5(folder: Path) -> Path:
    """multilingual-e5-small with an untrained 3-label head: the compute of the fine-tuned model, offline."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from contradiction.labels import ID2LABEL, LABEL2ID

    e5 = folder / "e5-small"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        BACKBONE, num_labels=3, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID)
    )
    model.save_pretrained(e5)
    AutoTokenizer.from_pretrained(BACKBONE).save_pretrained(e5)
    return e5


def run(flags: list[str], processes: int = 1, kill_after: int | None = None) -> dict:
    """One prediction run in its own process(es); its wall time and, from the main process, its peak RSS.
    With `kill_after`, one process killed once that many chunks are recorded (and nothing measured inside it)."""
    if kill_after is not None:
        launcher = [sys.executable, str(ROOT / "tests" / "killed_run.py"), str(kill_after)]
    elif processes == 1:
        launcher = [sys.executable, __file__, "--child"]
    else:
        launcher = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
            __file__,
            "--child",
        ]
    start = time.perf_counter()
    child = subprocess.run([*launcher, *flags], capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    return {"returncode": child.returncode, "wall_s": wall, **result, "stderr": child.stderr[-2000:]}


def child(argv: list[str]) -> None:
    """Inside one run: predict, then report time in `main` and peak RSS (main process only)."""
    from accelerate import PartialState

    from contradiction.inference.predict_cli import main

    start = time.perf_counter()
    main(argv)
    if PartialState().is_main_process:
        print(json.dumps({"main_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(), "end_rss_mb": rss_mb()}))


def rss_mb() -> float:
    """Resident memory now: unlike the peak, it shows what the run holds at its end, after every chunk."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def predict_flags(model: Path, source: Path, out: Path, chunk_size: int) -> list[str]:
    return [
        "--model",
        str(model),
        "--input",
        str(source),
        "--output",
        str(out / "submission.csv"),
        "--probabilities",
        str(out / "probabilities.csv"),
        "--chunk_size",
        str(chunk_size),
    ]


def outputs(out: Path) -> bytes:
    return (out / "submission.csv").read_bytes() + b"\0" + (out / "probabilities.csv").read_bytes()


def checked(row: dict) -> dict:
    if row["returncode"] != 0:
        sys.exit(f"{row['experiment']} failed:\n{row['stderr']}")
    row.pop("stderr")
    row["pairs_per_s"] = row["pairs"] / row["main_s"]
    print(
        f"{row['experiment']} {row.get('format', '')} {row['pairs']} pairs, {row['processes']} process(es): "
        f"{row['main_s']:.1f} s, {row['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=EXPERIMENTS, choices=EXPERIMENTS)
    parser.add_argument("--formats", nargs="+", default=["csv"], choices=["csv", "jsonl", "parquet"])
    parser.add_argument("--small", type=int, default=20_000, help="pairs in the small file (memory, resume)")
    parser.add_argument("--large", type=int, default=200_000, help="pairs in the large file (memory)")
    parser.add_argument("--process_pairs", type=int, default=3_000, help="pairs for 1 against 2 processes")
    parser.add_argument("--chunk_size", type=int, default=1024)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one run, in its own process
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    args = parser.parse_args()

    from contradiction.tiny import build_tiny_model, sample_sentences

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="batch-predict-bench-") as tmp:
        folder = Path(tmp)
        models = {"smoke": build_tiny_model(folder / "smoke", sample_sentences(SAMPLE), seed=0)}
        if "processes" in args.experiments:
            models["e5-small"] = build_e5(folder)
        small_outputs: dict[str, bytes] = {}
        if "memory" in args.experiments:
            for fmt in args.formats:
                for pairs in (args.small, args.large):
                    source = generate(folder / f"pairs-{pairs}.{fmt}", pairs)
                    out = folder / f"memory-{fmt}-{pairs}"
                    row = run(predict_flags(models["smoke"], source, out, args.chunk_size))
                    rows.append(
                        checked(
                            {
                                "experiment": "memory",
                                "model": "smoke",
                                "format": fmt,
                                "pairs": pairs,
                                "processes": 1,
                                "file_mb": source.stat().st_size / 2**20,
                                **row,
                            }
                        )
                    )
                    if pairs == args.small:
                        small_outputs[fmt] = outputs(out)
                    else:
                        rows[-1]["rss_vs_small"] = rows[-1]["peak_rss_mb"] / rows[-2]["peak_rss_mb"]
                    source.unlink()
            save("batch_predict", {"chunk_size": args.chunk_size, "rows": rows})  # kept if a later one fails
        if "processes" in args.experiments:
            source = generate(folder / "pairs-processes.csv", args.process_pairs)
            results = {}
            for processes in (1, 2):
                out = folder / f"processes-{processes}"
                row = run(predict_flags(models["e5-small"], source, out, args.chunk_size), processes)
                rows.append(
                    checked(
                        {
                            "experiment": "processes",
                            "model": "e5-small",
                            "format": "csv",
                            "pairs": args.process_pairs,
                            "processes": processes,
                            **row,
                        }
                    )
                )
                results[processes] = outputs(out)
            rows[-1]["identical"] = results[1] == results[2]
            rows[-1]["speedup"] = rows[-1]["pairs_per_s"] / rows[-2]["pairs_per_s"]
            save("batch_predict", {"chunk_size": args.chunk_size, "rows": rows})
        if "resume" in args.experiments:
            source = generate(folder / "pairs-resume.csv", args.small)
            chunks = -(-args.small // args.chunk_size)
            out = folder / "resume"
            flags = predict_flags(models["smoke"], source, out, args.chunk_size)
            killed = run(flags, kill_after=chunks // 2)
            progress = json.loads((out / "submission.csv.progress.json").read_text(encoding="utf-8"))
            resumed = checked(
                {
                    "experiment": "resume",
                    "model": "smoke",
                    "format": "csv",  # pairs: the rest only
                    "pairs": args.small - progress["rows_done"],
                    "processes": 1,
                    **run([*flags, "--resume"]),
                }
            )
            resumed.update(
                killed_after_rows=progress["rows_done"],
                killed_run_wall_s=killed["wall_s"],
                killed_returncode=killed["returncode"],
            )
            if "csv" in small_outputs:
                resumed["identical"] = outputs(out) == small_outputs["csv"]
            rows.append(resumed)

    print()
    columns = [
        "experiment",
        "model",
        "format",
        "pairs",
        "processes",
        "file_mb",
        "wall_s",
        "main_s",
        "pairs_per_s",
        "peak_rss_mb",
        "end_rss_mb",
        "rss_vs_small",
        "speedup",
        "identical",
        "killed_after_rows",
    ]
    print_table(rows, columns)
    save("batch_predict", {"chunk_size": args.chunk_size, "rows": rows})


if __name__ == "__main__":
    main()
