"""Start-up: a one-pair `python -m contradiction.predict` run, the whole test set against a `transformers.pipeline`
script, the app's time to its first answer, and the proof that the fast tokenizer gives the ids transformers gives.

Every run is its own process, timed from outside (wall clock, interpreter start included):

- `tokenizer`: `PairTokenizer` (tokenizer.json read straight into `tokenizers`) against `AutoTokenizer` on every
  pair of the competition's files (validation and train split as train.py splits them, and test): the same input
  ids and attention masks at max_length 256 and 64 (the second truncates many pairs); each one's load time.
- `startup`: a one-pair CSV through the CLI, median of `--runs`, against `python -c "import torch, transformers"`
  and against what transformers alone needs to run the model (import its class, load the weights), measured in
  the same rounds; for this tree, this tree with `--engine transformers`, and, with `--baseline_tree`, the code
  checked out there. One more run per tree is instrumented: where
  the time goes (imports, tokenizer, weights, prediction, writing). `--projected_tree` adds a copy of src/ with a
  change proposed but not made, to measure what it would give.
- `full`: the CLI over the 5,195 pairs of test.csv against a whole-process pipeline script (load the pipeline,
  classify `{"text", "text_pair"}` dicts, write the labels); how many labels agree; old and new outputs compared
  at the same settings (`--baseline_chunk_size`), and the outputs of `--engine auto` and `--engine transformers`.
- `app`: `python app.py --model M --port P --monitor_db none` until `/predict` answers through gradio_client.

Each timed run also notes the CPU other processes used meanwhile (/proc/stat), to tell a disturbed number. A run of
some experiments keeps the others' results in benchmarks/results/startup.json.

    git worktree add /tmp/startup-baseline HEAD       # the code before, beside this tree
    flock /tmp/bench.lock python benchmarks/startup.py --model /work/runs/extra-mixed-frozen \
        --baseline_tree /tmp/startup-baseline
    git worktree remove /tmp/startup-baseline
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, WATSON, print_table, save

EXPERIMENTS = ["tokenizer", "startup", "full", "app"]
SAMPLE_TEST = ROOT / "data" / "sample" / "test.csv"
IMPORT_BASELINE = [sys.executable, "-c", "import torch, transformers"]
MODEL_FLOOR = "import gc, torch; from transformers import AutoModelForSequenceClassification as M; M.from_pretrained({!r}, dtype=torch.bfloat16); gc.freeze()"  # noqa: E501
"""What a process pays to run the model in transformers: the imports of its class and the weights (no tokenizer, no
data), and an exit spared the last garbage collection, as the CLI's is. contradiction.native runs below it."""
PAIR = ("A man is sleeping on a park bench.", "Nobody is asleep.")
TRANSFORMERS_ENGINE = "after, --engine transformers"
"""This tree with the model built by transformers, as before contradiction.native."""


def tree_env(tree: Path) -> dict[str, str]:
    """The environment that runs `tree`'s package: its src/ ahead of the editable install of this one."""
    return {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


OTHER_CPU: list[float] = []
"""CPU seconds that other processes used during each timed run: how far a number may be disturbed."""


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat counts in 1/100 s)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / 100  # all but idle and iowait


def wall(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall-clock seconds of one process, start to exit; notes the CPU others used meanwhile in OTHER_CPU."""
    busy, own = busy_cpu_s(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
    OTHER_CPU.append(max(0.0, busy_cpu_s() - busy - child_cpu))
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def cli(model: str, source: Path, out: Path, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "contradiction.predict",
        "--model",
        model,
        "--input",
        str(source),
        "--output",
        str(out / "submission.csv"),
        *flags,
    ]


# --- tokenizer: the same ids, and the load times


def competition_pairs() -> dict[str, tuple[list[str], list[str]]]:
    """Every pair of the competition's files, stripped as the CLI strips them: train.py's validation and train
    split of train.csv (validation_size 0.1, seed 42) and test.csv."""
    from contradiction.data.competition import load_csv, stratified_split

    splits = stratified_split(load_csv(WATSON / "train.csv", labelled=True), 0.1, 42)
    splits["test"] = load_csv(WATSON / "test.csv", labelled=False)
    return {name: (list(ds["premise"]), list(ds["hypothesis"])) for name, ds in splits.items()}


def tokenizer_experiment(model: str, loads: int) -> dict:
    from transformers import AutoTokenizer

    from contradiction.inference.tokenizer import PairTokenizer

    direct, auto = PairTokenizer.from_folder(Path(model)), AutoTokenizer.from_pretrained(model)
    if direct is None:
        sys.exit(f"{model}: PairTokenizer does not build this tokenizer; nothing to compare.")
    result: dict = {"splits": {}}
    for name, (premises, hypotheses) in competition_pairs().items():
        row = {"pairs": len(premises)}
        for max_length in (256, 64):
            got = direct(premises, hypotheses, truncation="longest_first", max_length=max_length)
            expected = auto(premises, hypotheses, truncation="longest_first", max_length=max_length)
            same = [got[k] == expected[k] for k in ("input_ids", "attention_mask")] + [list(got) == list(expected)]
            row[f"identical_{max_length}"] = all(same)
            row[f"truncated_{max_length}"] = sum(len(ids) == max_length for ids in expected["input_ids"])
        result["splits"][name] = row
        print(f"tokenizer {name}: {row}", flush=True)
    result["identical"] = all(r["identical_256"] and r["identical_64"] for r in result["splits"].values())
    for label, load in (
        ("auto_load_s", lambda: AutoTokenizer.from_pretrained(model)),
        ("direct_load_s", lambda: PairTokenizer.from_folder(Path(model))),
    ):
        times = []
        for _ in range(loads):
            start = time.perf_counter()
            load()
            times.append(time.perf_counter() - start)
        result[label] = statistics.median(times)
    return result


# --- startup: one pair, whole process, median of several runs; one instrumented run per tree


def startup_experiment(model: str, trees: dict[str, Path], runs: int, folder: Path) -> dict:
    variants = {name: (tree, ()) for name, tree in trees.items()}
    if "after" in trees:  # the same tree with the model in transformers, as before contradiction.native
        variants[TRANSFORMERS_ENGINE] = (trees["after"], ("--engine", "transformers"))
    one = folder / "one.csv"
    with open(SAMPLE_TEST, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    one.write_text("".join(lines[:2]), encoding="utf-8")  # the header and the sample's first pair
    floor = [sys.executable, "-c", MODEL_FLOOR.format(model)]
    times: dict[str, list[float]] = {"import torch, transformers": [], "model floor": [], **{n: [] for n in variants}}
    worst = 0.0  # the most CPU other processes used during one timed run
    for round_ in range(runs + 1):  # round 0 warms the file cache and is dropped
        times_now = {"import torch, transformers": wall(IMPORT_BASELINE, tree_env(ROOT), folder)}
        times_now["model floor"] = wall(floor, tree_env(ROOT), folder)
        for name, (tree, flags) in variants.items():
            times_now[name] = wall(cli(model, one, folder / name, *flags), tree_env(tree), folder)
        if round_:
            for key, seconds in times_now.items():
                times[key].append(seconds)
            disturbed = max(OTHER_CPU[-len(times_now) :])
            worst = max(worst, disturbed)
        print(f"startup round {round_}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times_now.items()), flush=True)
    medians = {key: statistics.median(values) for key, values in times.items()}
    breakdown = {}
    for name, (tree, flags) in variants.items():
        command = [sys.executable, __file__, "--breakdown_child", *cli(model, one, folder / name, *flags)[3:]]
        start = time.perf_counter()
        done = subprocess.run(command, env=tree_env(tree), cwd=folder, capture_output=True, text=True)
        total = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"breakdown of {name} failed:\n{done.stderr[-3000:]}")
        phases = json.loads(done.stdout.strip().splitlines()[-1])
        phases["interpreter start and exit"] = total - phases.pop("child_s")
        breakdown[name] = {"total": total, **phases}
    return {"runs": runs, "times": times, "medians": medians, "breakdown": breakdown, "other_cpu_s_max": worst}


def breakdown_child(argv: list[str]) -> None:
    """One `python -m contradiction.predict` run in this process, its time split into phases.

    Imports are timed by wrapping the import system's `_find_and_load` (what `python -X importtime` times), the
    phases by wrapping the functions the CLI calls; a phase's time leaves out the imports made inside it. The
    module runs as `__main__`, as `-m` runs it, so what it does after `main` (and the exit) counts too.
    """
    import _frozen_importlib as bootstrap  # what `import` and importlib.import_module both go through
    import runpy

    started = time.perf_counter()
    clock = {"imports": 0.0}
    packages: dict[str, float] = {}
    depth = [0]
    find_and_load = bootstrap._find_and_load

    def timed_import(name, import_):
        if depth[0]:
            return find_and_load(name, import_)
        depth[0], start = 1, time.perf_counter()
        try:
            return find_and_load(name, import_)
        finally:
            depth[0] = 0
            seconds = time.perf_counter() - start
            clock["imports"] += seconds
            packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0.0) + seconds

    def timed(phase, function):
        def wrapper(*args, **kwargs):
            start, imports = time.perf_counter(), clock["imports"]
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start - (clock["imports"] - imports)
                clock[phase] = clock.get(phase, 0.0) + spent

        return wrapper

    bootstrap._find_and_load = timed_import
    import importlib
    import importlib.util

    import torch  # noqa: F401  (every run imports it: first, so that its own time shows apart)

    try:  # where the predict CLI imports them from, before it is imported
        from contradiction.data import pairs as reader
        from contradiction.inference import outputs as writer
        from contradiction.inference import predictor as inference
    except ImportError:  # a tree from before the subpackages
        from contradiction import batch_io as reader
        from contradiction import batch_io as writer
        from contradiction import inference

    module_name = next(
        (name for name in ("contradiction.inference.native", "contradiction.native") if importlib.util.find_spec(name)),
        None,
    )  # none in a tree from before it
    if module_name and "transformers" not in argv:  # --engine auto: the weights are read by the native engine
        module = importlib.import_module(module_name)

        module.load = timed("weights", module.load)
    else:  # transformers reads the weights (and its import shows apart from ours)
        from transformers import AutoModelForSequenceClassification

        weights = AutoModelForSequenceClassification.from_pretrained.__func__
        AutoModelForSequenceClassification.from_pretrained = classmethod(timed("weights", weights))

    for name in ("open_input", "check_rows"):
        setattr(reader, name, timed("read and check the input", getattr(reader, name)))
    for name in ("start", "append", "finish"):
        setattr(writer.ChunkedOutputs, name, timed("write the outputs", getattr(writer.ChunkedOutputs, name)))
    inference.Predictor.predict_proba = timed("predict", inference.Predictor.predict_proba)
    load = inference.Predictor.from_pretrained.__func__
    inference.Predictor.from_pretrained = classmethod(timed("config, tokenizer, checks", load))

    sys.argv = ["contradiction.predict", *argv]
    timed("main", runpy.run_module)("contradiction.predict", run_name="__main__", alter_sys=True)
    phases = {
        key: clock.get(key, 0.0)
        for key in ("imports", "read and check the input", "weights", "predict", "write the outputs")
    }
    phases["config, tokenizer, checks"] = clock["config, tokenizer, checks"] - clock["weights"]
    phases["other"] = clock["main"] - sum(v for k, v in phases.items() if k != "imports")
    top = sorted(packages.items(), key=lambda item: -item[1])[:8]
    print(json.dumps({**phases, "imports_by_package": dict(top), "child_s": time.perf_counter() - started}))


# --- full: the whole test set, whole process, against a pipeline script


def pipeline_child(model: str, source: str, output: str) -> None:
    """What a script around `transformers.pipeline` does: load it, classify every pair, write the labels."""
    from transformers import pipeline

    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    classify = pipeline("text-classification", model=model, device="cpu")
    answers = classify([{"text": r["premise"].strip(), "text_pair": r["hypothesis"].strip()} for r in rows])
    with open(output, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "label"])
        writer.writerows([r["id"], answer["label"]] for r, answer in zip(rows, answers, strict=True))


def full_experiment(
    model: str, trees: dict[str, Path], folder: Path, skip_pipeline: bool, baseline_chunk_size: int | None
) -> dict:
    from contradiction.labels import LABELS

    source = WATSON / "test.csv"
    result: dict = {"pairs": sum(1 for _ in open(source, encoding="utf-8")) - 1, "seconds": {}}
    runs = {name: (tree, ()) for name, tree in trees.items()}
    runs[TRANSFORMERS_ENGINE] = (trees["after"], ("--engine", "transformers"))
    if "before" in trees:  # the old default, to compare bytes: the same settings must give the same outputs
        same_settings = "after"
        if baseline_chunk_size:
            same_settings = f"after, --chunk_size {baseline_chunk_size}"
            runs[same_settings] = (trees["after"], ("--chunk_size", str(baseline_chunk_size)))
    outputs = {}
    for i, (name, (tree, flags)) in enumerate(runs.items()):
        out = folder / f"full-{i}"
        command = cli(model, source, out, "--probabilities", str(out / "probabilities.csv"), *flags)
        result["seconds"][name] = wall(command, tree_env(tree), folder)
        result.setdefault("other_cpu_s", {})[name] = OTHER_CPU[-1]
        outputs[name] = (out / "submission.csv").read_bytes() + b"\0" + (out / "probabilities.csv").read_bytes()
        print(f"full {name}: {result['seconds'][name]:.1f} s", flush=True)
    if "before" in trees:
        result["same_bytes_as_before_at_the_same_settings"] = outputs["before"] == outputs[same_settings]
        result["same_settings_run"] = same_settings
    result["same_bytes_in_both_engines"] = outputs["after"] == outputs[TRANSFORMERS_ENGINE]
    if skip_pipeline:
        return result
    labels = folder / "pipeline-labels.csv"
    command = [sys.executable, __file__, "--pipeline_child", model, str(source), str(labels)]
    result["seconds"]["pipeline"] = wall(command, tree_env(ROOT), folder)
    result["other_cpu_s"]["pipeline"] = OTHER_CPU[-1]
    print(f"full pipeline: {result['seconds']['pipeline']:.1f} s", flush=True)
    with open(labels, encoding="utf-8", newline="") as f:
        theirs = {r["id"]: r["label"] for r in csv.DictReader(f)}
    with open(folder / f"full-{list(runs).index('after')}" / "submission.csv", encoding="utf-8", newline="") as f:
        ours = {r["id"]: LABELS[int(r["prediction"])] for r in csv.DictReader(f)}
    result["label_agreement"] = sum(ours[i] == theirs[i] for i in ours) / len(ours)
    return result


# --- app: from `python app.py` to its first answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_answer(model: str, tree: Path, timeout: float = 300.0) -> float:
    """Seconds from starting the app to the first answer of `/predict`, asked through gradio_client."""
    from gradio_client import Client

    port = free_port()
    command = [sys.executable, "app.py", "--model", model, "--port", str(port), "--monitor_db", "none"]
    busy = busy_cpu_s()
    ours = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    start = time.perf_counter()
    app = subprocess.Popen(command, cwd=tree, env=tree_env(tree), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - start < timeout:
            if app.poll() is not None:
                sys.exit(f"app.py in {tree} stopped:\n{app.stderr.read().decode()[-3000:]}")
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False).predict(*PAIR, api_name="/predict")
                return time.perf_counter() - start
            except Exception:  # not listening yet, or its config not served yet
                time.sleep(0.2)
        sys.exit(f"app.py in {tree} gave no answer within {timeout:.0f} s")
    finally:
        app.terminate()
        app.wait(timeout=30)
        now = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(ours, now, strict=True))
        OTHER_CPU.append(max(0.0, busy_cpu_s() - busy - cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model folder written by train.py")
    parser.add_argument("--experiments", nargs="+", default=EXPERIMENTS, choices=EXPERIMENTS)
    parser.add_argument("--baseline_tree", help="a checkout of the code before (git worktree add DIR HEAD)")
    parser.add_argument(
        "--projected_tree",
        help="startup only: a copy of this tree's src/ with a change proposed but not made, measured beside it",
    )
    parser.add_argument("--runs", type=int, default=7, help="one-pair runs per tree, median taken (default 7)")
    parser.add_argument("--app_runs", type=int, default=3, help="app starts per tree, median taken (default 3)")
    parser.add_argument("--skip_pipeline", action="store_true", help="full: only the CLI, not the 3-minute pipeline")
    parser.add_argument(
        "--baseline_chunk_size",
        type=int,
        help="full: the baseline tree's default --chunk_size where it differs from this tree's (1024 before 71eb2c3): "
        "this tree runs once more with it, to compare the bytes at the same settings",
    )
    if sys.argv[1:2] == ["--breakdown_child"]:
        breakdown_child(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--pipeline_child"]:
        pipeline_child(*sys.argv[2:5])
        return
    args = parser.parse_args()
    trees = {"after": ROOT}
    if args.baseline_tree:
        trees = {"before": Path(args.baseline_tree).resolve(), **trees}

    projected = {"projected": Path(args.projected_tree).resolve()} if args.projected_tree else {}
    saved = RESULTS / "startup.json"
    results = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else {}  # parts not rerun stay
    results = {key: results[key] for key in EXPERIMENTS if key in results and key not in args.experiments}
    results["model"] = args.model

    def measured(experiment: str, trees_used: dict[str, Path], run) -> None:
        first = len(OTHER_CPU)
        results[experiment] = {
            **run(),
            "trees": {name: str(tree) for name, tree in trees_used.items()},
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "other_cpu_s_max": max(OTHER_CPU[first:], default=0.0),
        }

    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        folder = Path(tmp)
        if "tokenizer" in args.experiments:
            measured("tokenizer", {"after": ROOT}, lambda: tokenizer_experiment(args.model, loads=3))
        if "startup" in args.experiments:
            every = {**trees, **projected}
            measured("startup", every, lambda: startup_experiment(args.model, every, args.runs, folder))
        if "full" in args.experiments:
            measured(
                "full",
                trees,
                lambda: full_experiment(args.model, trees, folder, args.skip_pipeline, args.baseline_chunk_size),
            )
        if "app" in args.experiments:
            measured(
                "app",
                trees,
                lambda: {
                    "seconds": {
                        name: [first_answer(args.model, tree) for _ in range(args.app_runs)]
                        for name, tree in trees.items()
                    }
                },
            )
    report(results)
    save("startup", results)


def report(results: dict) -> None:
    if "tokenizer" in results:
        tok = results["tokenizer"]
        rows = [{"split": name, **row} for name, row in tok["splits"].items()]
        print("\nTokenizer: PairTokenizer against AutoTokenizer")
        print_table(rows, ["split", "pairs", "identical_256", "truncated_256", "identical_64", "truncated_64"])
        print(f"load: AutoTokenizer {tok['auto_load_s']:.2f} s, PairTokenizer {tok['direct_load_s']:.2f} s")
    rows = []
    if "startup" in results:
        start = results["startup"]
        floor = start["medians"]["import torch, transformers"]
        for key, median in start["medians"].items():
            rows.append({"what": f"one pair: {key}", "seconds": median, "x_import": median / floor})
        print(f"\nStart-up (median of {start['runs']} runs; goal: CLI <= 2x the import; model floor: {MODEL_FLOOR!r})")
        print_table(rows, ["what", "seconds", "x_import"])
        print(f"CPU used by other processes during one of these runs: at most {start['other_cpu_s_max']:.2f} s")
        for name, phases in start["breakdown"].items():
            print(f"\nWhere a one-pair run of {name} spends its time (one instrumented run)")
            shown = {k: v for k, v in phases.items() if k != "imports_by_package"}
            print_table([{"phase": k, "seconds": v} for k, v in shown.items()], ["phase", "seconds"])
            print("imports by package: " + ", ".join(f"{k} {v:.2f}" for k, v in phases["imports_by_package"].items()))
    if "full" in results:
        full = results["full"]
        seconds = full["seconds"]
        rows = [
            {
                "what": f"{full['pairs']} pairs: {name}",
                "seconds": s,
                "x_pipeline": seconds["pipeline"] / s if "pipeline" in seconds else None,
                "pairs_per_s": full["pairs"] / s,
                "other_cpu_s": full["other_cpu_s"][name],
            }
            for name, s in seconds.items()
        ]
        print("\nWhole test set, whole process (goal: >= 4x the pipeline, >= 99% same labels)")
        print_table(rows, ["what", "seconds", "pairs_per_s", "x_pipeline", "other_cpu_s"])
        if "label_agreement" in full:
            print(f"labels the same as the pipeline's: {full['label_agreement']:.2%}")
        if "same_bytes_in_both_engines" in full:
            print(f"--engine auto and --engine transformers wrote the same bytes: {full['same_bytes_in_both_engines']}")
        if "same_bytes_as_before_at_the_same_settings" in full:
            same = full["same_bytes_as_before_at_the_same_settings"]
            print(f"before and {full.get('same_settings_run', 'after')} wrote the same bytes: {same}")
    if "app" in results:
        rows = [
            {"tree": name, "median_s": statistics.median(times), "runs": ", ".join(f"{t:.1f}" for t in times)}
            for name, times in results["app"]["seconds"].items()
        ]
        print("\nApp: from `python app.py` to the first answer of /predict")
        print_table(rows, ["tree", "median_s", "runs"])
    for experiment in EXPERIMENTS:
        if experiment in results:
            part = results[experiment]
            print(
                f"{experiment}: measured {part['measured']}, trees {part['trees']}, other processes' CPU at most "
                f"{part['other_cpu_s_max']:.2f} s in one timed run"
            )


if __name__ == "__main__":
    main()
