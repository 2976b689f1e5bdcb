"""data/extra/ and --extra_data: the mixture of sources, every file format, labels by name, item-wise
deduplication, sampling, schedules."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Translation, TranslationVariableLanguages, Value
from training_run import ROOT, load_train_script, smoke_args

from contradiction.data.extra import ExtraSource, build_extra, normalise, parse_source, parse_spec
from contradiction.errors import UserError
from contradiction.labels import LABELS

# Our own sentences. An item is one English pair and its translations, as in XNLI.
ITEM_GARDEN = [
    ("en", "The garden behind the school is full of roses.", "There are flowers behind the school."),
    ("fr", "Le jardin derrière l'école est plein de roses.", "Il y a des fleurs derrière l'école."),
    ("de", "Der Garten hinter der Schule ist voller Rosen.", "Hinter der Schule gibt es Blumen."),
]
ITEM_TRAIN = [
    ("en", "The last train to the coast leaves at midnight.", "No train goes to the coast at night."),
    ("es", "El último tren a la costa sale a medianoche.", "Ningún tren va a la costa de noche."),
    ("de", "Der letzte Zug zur Küste fährt um Mitternacht.", "Nachts fährt kein Zug zur Küste."),
]
ITEM_SOUP = [
    ("en", "My aunt cooks a big pot of soup every Sunday.", "My aunt likes cooking."),
    ("fr", "Ma tante prépare une grande marmite de soupe chaque dimanche.", "Ma tante aime cuisiner."),
    ("zh", "我姑姑每个星期天都煮一大锅汤。", "我姑姑喜欢做饭。"),
]


def evaluated(premise: str, hypothesis: str) -> DatasetDict:
    """Competition-like splits whose validation holds one pair (here with other spacing, case and punctuation)."""
    row = {"id": ["v1"], "premise": [premise], "hypothesis": [hypothesis], "lang_abv": ["fr"], "language": ["French"]}
    train = Dataset.from_dict({**row, "id": ["t1"], "premise": ["Il fait beau."], "hypothesis": ["Il pleut."]})
    return DatasetDict(train=train, validation=Dataset.from_dict(row))


# the French version of ITEM_GARDEN, as it might appear in the competition file
VALIDATION = evaluated("  le jardin derrière l’école est plein de roses ", "Il y a des fleurs derrière l'école !")


def xnli_rows() -> list[dict]:
    rows = []
    for item, versions, label in (("g", ITEM_GARDEN, "entailment"), ("t", ITEM_TRAIN, "contradiction")):
        rows += [{"item": item, "lang_abv": c, "premise": p, "hypothesis": h, "label": label} for c, p, h in versions]
    rows += [{"item": "s", "lang_abv": c, "premise": p, "hypothesis": h, "label": "neutral"} for c, p, h in ITEM_SOUP]
    return rows


def write_csv(path, rows: list[dict], delimiter: str = ",") -> str:
    import csv

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def build(specs, splits=VALIDATION, dedup="pair", seed=42, **settings):
    return build_extra([ExtraSource(str(s), **settings) for s in specs], splits, dedup, seed)


@pytest.mark.slow
def test_an_item_matching_a_validation_pair_is_dropped_in_every_language(tmp_path):
    extra, report = build([write_csv(tmp_path / "xnli.csv.gz", xnli_rows())])
    assert "Der Garten hinter der Schule ist voller Rosen." not in extra["premise"]  # German version of the leak
    assert not any("garden" in p or "jardin" in p for p in extra["premise"])
    assert sorted(extra["lang_abv"]) == ["de", "en", "en", "es", "fr", "zh"]
    entry = report[0]
    assert (entry["items_dropped_overlap"], entry["rows_dropped_overlap"], entry["rows_kept"]) == (1, 3, 6)


def test_an_item_sharing_a_translation_with_a_leaking_item_goes_with_it(tmp_path):
    """Two items whose German versions came out identical: the one that does not match still carries the text."""
    rows = xnli_rows() + [
        {
            "item": "twin",
            "lang_abv": "en",
            "premise": "The school garden has roses.",
            "hypothesis": "Flowers grow.",
            "label": "neutral",
        },
        {
            "item": "twin",
            "lang_abv": "de",
            "premise": ITEM_GARDEN[2][1],
            "hypothesis": ITEM_GARDEN[2][2],
            "label": "neutral",
        },
    ]
    extra, report = build([write_csv(tmp_path / "x.csv", rows)])
    assert report[0]["items_dropped_overlap"] == 2 and report[0]["rows_dropped_overlap"] == 5
    assert "The school garden has roses." not in extra["premise"]


def test_premise_mode_also_drops_items_that_share_an_evaluated_premise(tmp_path):
    source = write_csv(tmp_path / "x.csv", xnli_rows())
    splits = evaluated("Ma tante prépare une grande marmite de soupe chaque dimanche.", "Ma tante déteste la soupe.")
    assert build([source], splits)[1][0]["items_dropped_overlap"] == 0  # another hypothesis: not the same pair
    extra, report = build([source], splits, dedup="premise")
    assert report[0]["items_dropped_overlap"] == 1 and "zh" not in extra["lang_abv"]


def test_test_split_is_deduplicated_too(tmp_path):
    splits = DatasetDict(
        train=VALIDATION["train"], validation=VALIDATION["train"], test=evaluated(*ITEM_TRAIN[1][1:])["validation"]
    )
    extra, report = build([write_csv(tmp_path / "x.csv", xnli_rows())], splits)
    assert report[0]["items_dropped_overlap"] == 1 and "es" not in extra["lang_abv"]


LABEL_FORMATS = [
    ("names.csv", ["entailment", "neutral", "contradiction", "-"], ","),
    ("letters.tsv", ["e", "n", "c", ""], "\t"),
    ("digits.csv.gz", ["0", "1", "2", "-1"], ","),
    ("capitals.tsv.gz", ["Entailment", "NEUTRAL", "Contradiction", "-"], "\t"),
]


@pytest.mark.parametrize("name, labels, delimiter", LABEL_FORMATS)
def test_labels_by_name_in_text_files_and_unlabelled_rows_dropped(tmp_path, name, labels, delimiter):
    rows = [
        {"sentence1": p, "sentence2": h, "gold_label": lab, "language": c}
        for (c, p, h), lab in zip(ITEM_SOUP + ITEM_TRAIN[:1], labels, strict=True)
    ]
    extra, report = build([write_csv(tmp_path / name, rows, delimiter)])
    assert [LABELS[i] for i in extra["label"]] == ["entailment", "neutral", "contradiction"]
    assert report[0]["rows_dropped_unlabelled"] == 1 and report[0]["rows_kept"] == 3
    assert extra["lang_abv"] == ["en", "fr", "zh"] and extra["language"] == ["English", "French", "Chinese"]


def classlabel_dataset() -> Dataset:
    """A Hub-style source: ClassLabel ints in another label order, -1 for no gold label, no language column."""
    names = ["contradiction", "entailment", "neutral"]
    pairs = [ITEM_TRAIN[0][1:], ITEM_SOUP[0][1:], ITEM_SOUP[1][1:], ITEM_TRAIN[2][1:]]
    features = Features({"premise": Value("string"), "hypothesis": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict(
        {"premise": [p for p, _ in pairs], "hypothesis": [h for _, h in pairs], "label": [0, 1, 2, -1]},
        features=features,
    )


def test_classlabel_names_decide_in_jsonl_parquet_and_saved_folders(tmp_path):
    ds = classlabel_dataset()
    folder = tmp_path / "saved"
    ds.save_to_disk(str(folder))
    DatasetDict(train=ds).save_to_disk(str(tmp_path / "saved_dict"))
    ds.to_parquet(str(tmp_path / "x.parquet"))
    with open(tmp_path / "x.jsonl", "w", encoding="utf-8") as f:  # JSON Lines carry names, not ClassLabel ids
        for row in ds:
            label = ds.features["label"].names[row["label"]] if row["label"] >= 0 else "-"
            f.write(json.dumps({**row, "label": label}, ensure_ascii=False) + "\n")
    for spec in (folder, tmp_path / "saved_dict", tmp_path / "x.jsonl"):
        extra, report = build([spec])
        assert [LABELS[i] for i in extra["label"]] == ["contradiction", "entailment", "neutral"], spec
        assert report[0]["rows_dropped_unlabelled"] == 1 and set(extra["lang_abv"]) == {"unknown"}
    # Parquet keeps the ClassLabel feature's names in its metadata
    extra, _ = build([tmp_path / "x.parquet"])
    assert [LABELS[i] for i in extra["label"]] == ["contradiction", "entailment", "neutral"]


def test_all_languages_rows_are_one_item_each(tmp_path):
    """The layout of facebook/xnli `all_languages`: one row per item, every language's text in it."""
    features = Features(
        {
            "premise": Translation(languages=["de", "en", "fr"]),
            "hypothesis": TranslationVariableLanguages(languages=["de", "en", "fr"]),
            "label": ClassLabel(names=list(LABELS)),
        }
    )

    def row(item):
        return {
            "premise": {c: p for c, p, _ in item},
            "hypothesis": {"language": [c for c, _, _ in item], "translation": [h for _, _, h in item]},
        }

    garden, train = row(ITEM_GARDEN), row(ITEM_TRAIN[:1] + [("fr", "Le dernier train part à minuit.", "Pas de train.")])
    data = {"premise": [garden["premise"], train["premise"]], "hypothesis": [garden["hypothesis"], train["hypothesis"]]}
    Dataset.from_dict({**data, "label": [0, 2]}, features=features).save_to_disk(str(tmp_path / "xnli"))
    extra, report = build([tmp_path / "xnli"])
    assert report[0]["rows_read"] == 5 and report[0]["items_dropped_overlap"] == 1
    assert sorted(extra["lang_abv"]) == ["en", "fr"] and set(extra["label"]) == {2}


def test_counts_add_up_and_sampling_is_seeded(tmp_path):
    rows = xnli_rows() + [{"item": "u", "lang_abv": "en", "premise": "A.", "hypothesis": "B.", "label": "-"}]
    source = write_csv(tmp_path / "x.csv", rows)
    extra, report = build([source, source], versions_per_item=2, max_rows=3, seed=7)
    for entry in report:
        dropped = (
            entry["rows_dropped_unlabelled"]
            + entry["rows_dropped_empty"]
            + entry["rows_dropped_overlap"]
            + entry["rows_dropped_sampling"]
        )
        assert entry["rows_read"] == 10 and dropped + entry["rows_kept"] == entry["rows_read"]
        assert entry["rows_kept"] == 3 == sum(entry["labels"].values()) == sum(entry["languages"].values())
    assert len(extra) == 6 and len(set(extra["id"])) == 6
    again, _ = build([source, source], versions_per_item=2, max_rows=3, seed=7)
    assert again["premise"] == extra["premise"]


def test_normalise_ignores_case_width_punctuation_and_spacing():
    assert normalise("  Ｈello,  World！ ") == normalise("hello world") == "helloworld"
    assert normalise("l’école") == normalise("l'école")


@pytest.mark.parametrize(
    "spec, rows, message",
    [
        ("missing.csv", None, "no such file or folder"),
        ("odd.txt", [{"premise": "a", "hypothesis": "b", "label": "e"}], "unknown file type"),
        ("nohyp.csv", [{"premise": "a", "other": "b", "label": "e"}], "no hypothesis column"),
        ("badlabel.csv", [{"premise": "a", "hypothesis": "b", "label": "maybe"}], "row 1 has label 'maybe'"),
    ],
)
def test_bad_sources_are_one_sentence(tmp_path, spec, rows, message):
    path = tmp_path / spec
    if rows is not None:
        write_csv(path, rows)
    with pytest.raises(UserError, match=message):
        build([path])


def test_hub_spec_offline_fails_at_start_in_one_sentence(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = parse_spec("facebook/xnli:all_languages@train")
    assert (spec.repo, spec.config, spec.split) == ("facebook/xnli", "all_languages", "train")
    assert parse_spec("nyu-mll/multi_nli").split == "train"
    local = write_csv(tmp_path / "x.csv", xnli_rows())
    with pytest.raises(UserError, match="is a Hub data set but the Hub is switched off") as err:
        build([local, "facebook/xnli:all_languages@train"])  # refused before the local file is read
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_hub_spec_offline_through_train_py(tmp_path, sample_dir, tiny_model_dir):
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k == "PYTHONPATH"})  # a checkout not installed editable
    args = smoke_args(tiny_model_dir, tmp_path / "out", sample_dir, "--extra_data", "stanfordnlp/snli@train")
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --extra_data stanfordnlp/snli@train: is a Hub data set but the Hub is switched off "
        "(HF_HUB_OFFLINE); unset it, or pass a local copy (a save_to_disk folder or a data file)."
    ]
    assert not (tmp_path / "out" / "model.safetensors").exists()


def sample_extra(tmp_path, sample_dir) -> str:
    """Extra rows: our own items, one of which repeats a sample validation pair in another spelling."""
    from contradiction.data.competition import prepare

    splits, _ = prepare(sample_dir / "train.csv", sample_dir / "test.csv", 0.2, 42)
    leak = splits["validation"][0]
    rows = xnli_rows() + [
        {
            "item": "leak",
            "lang_abv": leak["lang_abv"],
            "premise": leak["premise"].upper(),
            "hypothesis": leak["hypothesis"] + " .",
            "label": "neutral",
        },
        {
            "item": "leak",
            "lang_abv": "en",
            "premise": "An English version.",
            "hypothesis": "Of the leak.",
            "label": "neutral",
        },
    ]
    return write_csv(tmp_path / "extra.csv", rows)


@pytest.mark.parametrize(
    "schedule, settings", [(["--extra_epochs", "1"], ""), ([], ",weight=0.5")], ids=["staged", "mixed"]
)
@pytest.mark.slow
def test_staged_and_mixed_training_run_and_report(tmp_path, sample_dir, tiny_model_dir, schedule, settings):
    out = tmp_path / "model"
    extra = sample_extra(tmp_path, sample_dir)
    source = f"{extra},license=cc-by-4.0{settings}"
    load_train_script().main(smoke_args(tiny_model_dir, out, sample_dir, "--extra_data", source, *schedule))
    data_report = json.loads((out / "data_report.json").read_text())
    results = json.loads((out / "eval_results.json").read_text())
    (entry,) = data_report["extra_data"]
    assert entry["items_dropped_overlap"] == 1 and entry["rows_dropped_overlap"] == 2  # both versions of the leak
    staged = bool(schedule)
    assert data_report["extra_schedule"]["mode"] == ("staged" if staged else "mixed")
    card = (out / "README.md").read_text()
    assert "### Extra training data" in card and "cc-by-4.0" in card and str(extra) in card
    if staged:
        assert results["extra_stage"]["rows"] == 9 and 0 <= results["extra_stage"]["validation_accuracy"] <= 1
        assert results["train_rows"] == 120  # stage two: the competition rows alone
    else:
        assert data_report["extra_schedule"]["extra_rows_trained_on"] == 4  # half of 9, rounded
        assert results["train_rows"] == 120 + 4 and "extra_stage" not in results


def test_recipes_name_their_extra_data(tmp_path, monkeypatch):
    """Reading a recipe asks nothing of the network, whatever HF_HUB_OFFLINE or HF_DATASETS_OFFLINE say."""
    from huggingface_hub import constants

    from contradiction.training.arguments import parse_args, read_args

    monkeypatch.chdir(tmp_path)
    _, data_args, _ = read_args([str(ROOT / "configs" / "cpu-small-extra.yaml")])
    assert [Path(s.path).name for s in data_args.extra_data] == [
        f"{name}.csv.gz" for name in ("xnli-dev", "xnli-test", "ocnli", "indonli", "farstail")
    ]
    assert [s.license for s in data_args.extra_data] == [
        "cc-by-nc-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-2.0",
        "cc-by-sa-4.0",
        "apache-2.0",
    ]
    # XNLI whole (every version of every kept item), the other corpora capped
    assert [(s.versions_per_item, s.max_rows, s.weight) for s in data_args.extra_data] == [
        (None, None, 1.0),
        (None, None, 1.0),
        (2, 4000, 1.0),
        (2, 4000, 1.0),
        (2, 4000, 1.0),
    ]
    _, data_args, _ = read_args([str(ROOT / "configs" / "xlmr-large-xnli.yaml"), "--bf16", "false"])
    assert [s.path for s in data_args.extra_data] == ["facebook/xnli:all_languages@train", "nyu-mll/multi_nli@train"]
    assert data_args.extra_data[1].license == "OANC / CC BY-SA 3.0 / CC BY 3.0 (by genre)"
    assert data_args.extra_epochs == 1 and data_args.dedup == "premise"
    # training is another matter: a Hub source while the Hub is switched off is refused at the start
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="facebook/xnli:all_languages@train: is a Hub data set but the Hub is"):
        parse_args([str(ROOT / "configs" / "xlmr-large-xnli.yaml"), "--bf16", "false"])


def test_bad_extra_options_are_refused(tmp_path):
    from contradiction.training.arguments import parse_args

    base = ["--train_file", "x.csv", "--output_dir", str(tmp_path)]
    for flags, message in (
        (["--extra_data", "x.csv,weight=0"], "--extra_data x.csv: weight=0 must be above 0 and at most 1"),
        (["--dedup", "none"], "--dedup none: use pair or premise"),
        (["--extra_data", "x.csv,versions_per_item=0"], "--extra_data x.csv: versions_per_item=0 must be 1 or more"),
        (["--extra_data", "x.csv,max_rows=many"], "max_rows=many is not a int"),
        (["--extra_data", "x.csv,cap=3"], "unknown key\\(s\\) cap; a source has path, license, max_rows"),
        (["--extra_data", "x.csv,4000"], "'4000' is not key=value; write SPEC\\[,license=L\\]"),
    ):
        with pytest.raises(UserError, match=message):
            parse_args(base + flags)


def test_a_source_reads_the_same_from_a_flag_a_recipe_and_recipe_yaml(tmp_path):
    import yaml

    from contradiction.training.arguments import read_args, resolved_recipe, save_recipe

    flag = "facebook/xnli:all_languages@train[:10%],license=cc-by-nc-4.0,max_rows=40,versions_per_item=2,weight=0.25"
    source = parse_source(flag)
    assert source == ExtraSource("facebook/xnli:all_languages@train[:10%]", "cc-by-nc-4.0", 40, 2, 0.25)
    assert parse_source(source.as_text()) == source == parse_source(yaml.safe_load(yaml.safe_dump(source.as_entry())))
    assert parse_source({"path": "x.csv", "license": None, "max_rows": None}) == ExtraSource("x.csv")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"train_file": "x.csv", "extra_data": [source.as_entry(), "y.csv,license=mit"]}))
    parsed = read_args([str(recipe), "--output_dir", str(tmp_path / "o")])
    assert parsed[1].extra_data == [source, ExtraSource("y.csv", "mit")]
    save_recipe(resolved_recipe(*parsed), str(tmp_path))  # the model folder's recipe.yaml reads back as a recipe
    again = read_args([str(tmp_path / "recipe.yaml"), "--output_dir", str(tmp_path / "o")])
    assert again[1].extra_data == parsed[1].extra_data


@pytest.mark.parametrize(
    "old, new",
    [
        (
            {"extra_train_data": ["a.csv.gz", "b.csv"], "extra_licenses": ["cc-by-4.0"], "extra_weight": 0.5},
            "write `extra_data: [{path: a.csv.gz, license: cc-by-4.0, weight: 0.5}, {path: b.csv, weight: 0.5}]` "
            "instead.",
        ),
        (
            {
                "extra_train_data": ["a.csv.gz"],
                "extra_max_rows_per_source": 4000,
                "extra_epochs": 1,
                "extra_weight": 0.5,
            },
            "write `extra_data: [{path: a.csv.gz, max_rows: 4000}]` instead.",
        ),
        (
            {"extra_train_data": None, "extra_licenses": None, "extra_weight": 1.0},  # an earlier run's recipe.yaml
            "this recipe names no source, so remove them (a source is written `extra_data: [{path: "
            "data/extra.csv.gz}]`).",
        ),
    ],
)
def test_the_flat_extra_keys_of_a_recipe_are_refused_with_the_new_form(tmp_path, old, new):
    import yaml

    from contradiction.training.arguments import parse_args

    recipe = tmp_path / "old.yaml"
    recipe.write_text(yaml.safe_dump({"train_file": "x.csv", **old}))
    with pytest.raises(UserError) as err:
        parse_args([str(recipe)])
    message = str(err.value)
    assert message.startswith(f"{recipe}: extra_train_data") and message.endswith(new), message
    assert "\n" not in message


def test_the_flat_extra_flags_are_refused_with_the_new_form(tmp_path):
    from contradiction.training.arguments import parse_args

    old = ["--extra_train_data", "a.csv", "b.csv", "--extra_licenses", "cc-by-4.0", "OANC / CC BY 3.0"]
    with pytest.raises(UserError) as err:
        parse_args(["--train_file", "x.csv", *old, "--extra_versions_per_item=2", "--output_dir", str(tmp_path)])
    assert str(err.value) == (
        "--extra_train_data, --extra_licenses, --extra_versions_per_item are replaced by --extra_data, one SOURCE "
        "per source with its own settings (SPEC[,license=L][,max_rows=N][,versions_per_item=K][,weight=W]): pass "
        "--extra_data a.csv,license=cc-by-4.0,versions_per_item=2 'b.csv,license=OANC / CC BY 3.0,versions_per_item=2' "
        "instead."
    )


def test_the_readme_command_trains_on_the_recipe_s_mixture():
    """README's "More training data" command names the recipe's sources, only in another folder."""
    import re
    import shlex

    from contradiction.training.arguments import read_args

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### More training data") :]
    block = section[section.index("```bash") + 7 : section.index("```", section.index("```bash") + 7)]
    command = " ".join(line for line in block.replace("\\\n", " ").splitlines() if not line.startswith("#"))
    variables = dict(re.findall(r"^(\w+)=(\S+)$", block, re.M))
    words = shlex.split(command)
    flags = [
        w.replace("$" + name, value) for w in words[words.index("--extra_data") :] for name, value in variables.items()
    ]
    recipe = ROOT / "configs" / "cpu-small-extra.yaml"
    _, from_readme, _ = read_args([str(recipe), *flags])
    _, from_recipe, _ = read_args([str(recipe)])
    assert len(from_readme.extra_data) == 5
    for ours, theirs in zip(from_readme.extra_data, from_recipe.extra_data, strict=True):
        assert ours.path.startswith("../shared/data/nli-extra/") and Path(ours.path).name == Path(theirs.path).name
        assert (ours.license, ours.max_rows, ours.versions_per_item, ours.weight) == (
            theirs.license,
            theirs.max_rows,
            theirs.versions_per_item,
            theirs.weight,
        )


MIXTURE_LANGS = ("en", "fr", "de", "es", "zh")


def mixture_files(folder) -> list[str]:
    """Three sources in three formats: 8 items in 5 languages, 9 single pairs without items, 6 items in 3 languages."""
    paths = []
    for name, items, langs, with_item in (
        ("xnli.csv.gz", 8, MIXTURE_LANGS, True),
        ("pairs.jsonl", 9, ("en",), False),
        ("small.tsv", 6, MIXTURE_LANGS[:3], True),
    ):
        stem = name.split(".")[0]
        rows = []
        for k in range(items):
            for c in langs:
                row = {
                    "premise": f"{stem} premise {k} in {c}.",
                    "hypothesis": f"{stem} hypothesis {k} in {c}.",
                    "label": LABELS[k % 3],
                    "lang_abv": c,
                }
                rows.append({**row, "item": f"{stem}{k}"} if with_item else row)
        path = folder / name
        if name.endswith(".jsonl"):
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        else:
            write_csv(path, rows, "\t" if name.endswith(".tsv") else ",")
        paths.append(str(path))
    return paths


def mixture_splits() -> DatasetDict:
    """Evaluated pairs: the German version of xnli item 3 (respelled) and small item 1's French premise."""
    from contradiction.data.extra import OUTPUT_FEATURES

    validation = {
        "id": ["v1", "v2"],
        "premise": ["XNLI Premise 3 in DE", "small premise 1 in fr."],
        "hypothesis": ["xnli hypothesis 3 in de", "Something else."],
        "lang_abv": ["de", "fr"],
        "language": ["German", "French"],
        "label": [0, 1],
    }
    train = {
        "id": ["t1"],
        "premise": ["Il fait beau."],
        "hypothesis": ["Il pleut."],
        "lang_abv": ["fr"],
        "language": ["French"],
        "label": [2],
    }
    return DatasetDict(
        train=Dataset.from_dict(train, features=OUTPUT_FEATURES),
        validation=Dataset.from_dict(validation, features=OUTPUT_FEATURES),
    )


# What the flat extra_* options selected before the mixture (captured from that code): id and premise of each
# extra row in training order. Mixed: 2 versions per item, at most 7 rows per source, seed 7, weight 0.5.
SELECTED_MIXED = [
    "extra0-3 xnli premise 4 in de.",
    "extra1-1 pairs premise 3 in en.",
    "extra1-6 pairs premise 8 in en.",
    "extra1-3 pairs premise 5 in en.",
    "extra2-1 small premise 0 in de.",
    "extra2-3 small premise 2 in de.",
    "extra2-2 small premise 2 in en.",
    "extra1-5 pairs premise 7 in en.",
    "extra0-1 xnli premise 0 in fr.",
    "extra2-0 small premise 0 in en.",
]
# Staged (the weight had no effect there), 3 versions per item, at most 10 rows per source, seed 3, dedup premise.
SELECTED_STAGED = [
    "extra0-0 xnli premise 0 in fr.",
    "extra0-1 xnli premise 0 in es.",
    "extra0-2 xnli premise 1 in es.",
    "extra0-3 xnli premise 1 in de.",
    "extra0-4 xnli premise 4 in en.",
    "extra0-5 xnli premise 5 in zh.",
    "extra0-6 xnli premise 6 in zh.",
    "extra0-7 xnli premise 6 in fr.",
    "extra0-8 xnli premise 7 in fr.",
    "extra0-9 xnli premise 7 in de.",
    *(f"extra1-{k} pairs premise {k} in en." for k in range(9)),
    "extra2-0 small premise 0 in en.",
    "extra2-1 small premise 2 in fr.",
    "extra2-2 small premise 2 in de.",
    "extra2-3 small premise 3 in en.",
    "extra2-4 small premise 3 in fr.",
    "extra2-5 small premise 3 in de.",
    "extra2-6 small premise 4 in en.",
    "extra2-7 small premise 4 in fr.",
    "extra2-8 small premise 5 in en.",
    "extra2-9 small premise 5 in de.",
]


def selected(tmp_path, **data_options) -> tuple[list[str], dict]:
    """The extra rows `add_extra_data` puts in training (id and premise, in order) and the data report."""
    from transformers import TrainingArguments

    from contradiction.training.arguments import DataArguments
    from contradiction.training.pipeline import add_extra_data

    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[])
    splits, report = add_extra_data(mixture_splits(), None, DataArguments(train_file="x.csv", **data_options), args)
    rows = splits["extra"] if "extra" in splits else splits["train"]
    return [f"{i} {p}" for i, p in zip(rows["id"], rows["premise"], strict=True) if i.startswith("extra")], report


def test_the_same_rows_are_selected_as_by_the_flat_options(tmp_path):
    """The mixture equivalent to the flat options picks the same rows in the same order (SELECTED_* above)."""
    from contradiction.training.arguments import legacy_extra_data

    xnli, pairs, small = mixture_files(tmp_path)
    mixed = [
        {"path": xnli, "license": "cc-by-4.0", "versions_per_item": 2, "max_rows": 7, "weight": 0.5},
        {"path": pairs, "versions_per_item": 2, "max_rows": 7, "weight": 0.5},
        f"{small},versions_per_item=2,max_rows=7,weight=0.5",
    ]
    rows, report = selected(tmp_path, extra_data=mixed, extra_sample_seed=7)
    assert rows == SELECTED_MIXED
    assert [e["items_dropped_overlap"] for e in report["extra_data"]] == [1, 0, 0]
    assert [e["rows_kept"] for e in report["extra_data"]] == [2, 4, 4]  # after the weight: what is trained on
    assert [e["license"] for e in report["extra_data"]] == ["cc-by-4.0", "not given", "not given"]
    flat = {"extra_train_data": [xnli, pairs, small], "extra_licenses": ["cc-by-4.0"], "extra_versions_per_item": 2}
    flat.update(extra_max_rows_per_source=7, extra_weight=0.5)
    assert legacy_extra_data(flat) == [parse_source(source) for source in mixed]

    staged = [{"path": path, "versions_per_item": 3, "max_rows": 10} for path in (xnli, pairs, small)]
    rows, report = selected(tmp_path, extra_data=staged, extra_sample_seed=3, extra_epochs=1.0, dedup="premise")
    assert rows == SELECTED_STAGED
    assert [e["items_dropped_overlap"] for e in report["extra_data"]] == [1, 0, 1]
    flat = {"extra_train_data": [xnli, pairs, small], "extra_versions_per_item": 3, "extra_max_rows_per_source": 10}
    flat.update(extra_epochs=1.0, extra_weight=0.5)  # a staged run used every row whatever the weight
    assert legacy_extra_data(flat) == [parse_source(source) for source in staged]


def test_each_source_is_weighted_on_its_own(tmp_path):
    xnli, pairs, small = mixture_files(tmp_path)
    sources = [ExtraSource(xnli, versions_per_item=2), ExtraSource(pairs, weight=0.5), ExtraSource(small, weight=0.2)]
    extra, report = build_extra(sources, mixture_splits(), "pair", 5)
    kept = [e["rows_kept"] for e in report]
    assert kept[0] == report[0]["rows_after_dedup"] == 14  # weight 1: every row left after dedup and versions
    assert 2 <= kept[1] <= 7 and 1 <= kept[2] <= 7 and len(extra) == sum(kept)
    assert [e["weight"] for e in report] == [1.0, 0.5, 0.2]
    for e in report:
        assert e["rows_read"] == e["rows_dropped_overlap"] + e["rows_dropped_sampling"] + e["rows_kept"]
    again, _ = build_extra(sources, mixture_splits(), "pair", 5)
    assert again["id"] == extra["id"]


def build_once(tmp_path, capsys, **data_options) -> tuple[str, list[str]]:
    """What `add_extra_data` says it did (building or reusing) and the ids it put in training."""
    ids, _ = selected(tmp_path, **data_options)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("extra training data: ")]
    return said[0].split()[3], ids


@pytest.mark.slow
def test_the_build_is_reused_and_rebuilt_when_a_source_or_an_option_changes(tmp_path, capsys):
    xnli, pairs, _ = mixture_files(tmp_path)
    mixture = [f"{xnli},versions_per_item=2", pairs]
    assert build_once(tmp_path, capsys, extra_data=mixture)[0] == "building"
    reused, ids = build_once(tmp_path, capsys, extra_data=mixture)
    assert reused == "reusing" and ids == selected(tmp_path, extra_data=mixture)[0]
    capsys.readouterr()
    builds = list((tmp_path / "out" / "extra-data").iterdir())
    assert len(builds) == 1 and (builds[0] / "extra_report.json").is_file()
    for options in (
        {"extra_data": [f"{xnli},versions_per_item=3", pairs]},
        {"extra_data": [f"{xnli},versions_per_item=2,max_rows=5", pairs]},
        {"extra_data": [f"{xnli},versions_per_item=2", f"{pairs},weight=0.5"]},
        {"extra_data": mixture, "dedup": "premise"},
        {"extra_data": mixture, "extra_sample_seed": 1},
    ):
        assert build_once(tmp_path, capsys, **options)[0] == "building", options
    assert build_once(tmp_path, capsys, extra_data=mixture)[0] == "building"  # one build is kept, the last
    Path(pairs).write_text(Path(pairs).read_text() + json.dumps({"premise": "p", "hypothesis": "h", "label": "e"}))
    assert build_once(tmp_path, capsys, extra_data=mixture)[0] == "building"  # the source changed
    assert len(list((tmp_path / "out" / "extra-data").iterdir())) == 1


def test_the_build_depends_on_the_evaluated_pairs(tmp_path):
    from contradiction.data.extra import build_fingerprint

    sources = [ExtraSource(write_csv(tmp_path / "x.csv", xnli_rows()))]
    other = evaluated("Une autre phrase.", "Encore une.")
    assert build_fingerprint(sources, VALIDATION, "pair", 42) == build_fingerprint(sources, VALIDATION, "pair", 42)
    assert build_fingerprint(sources, VALIDATION, "pair", 42) != build_fingerprint(sources, other, "pair", 42)


@pytest.mark.slow
def test_two_processes_build_the_extra_data_once(tmp_path, sample_dir, tiny_model_dir):
    """Under accelerate launch the main process builds the mixture; the other rank memory-maps its folder."""
    out = tmp_path / "ddp"
    extra = sample_extra(tmp_path, sample_dir)
    args = smoke_args(tiny_model_dir, out, sample_dir, "--extra_data", extra, "--max_steps", "2")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    done = subprocess.run([*launch, str(ROOT / "train.py"), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("extra training data: building") == 1 and "reusing" not in done.stdout
    (build,) = (out / "extra-data").iterdir()
    assert json.loads((out / "data_report.json").read_text())["extra_schedule"]["extra_rows_trained_on"] == 9
    # a second run with the same inputs reads that build
    again = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"extra training data: reusing {build} (same sources and options)" in again.stdout


def test_a_saved_source_is_read_whole_or_as_the_rows_it_holds(tmp_path):
    """A save_to_disk source is streamed from its Arrow file; a dataset that holds only some of a file's rows is
    read as those rows."""
    from contradiction.data.extra.arrow import batches

    ds = classlabel_dataset()
    ds.save_to_disk(str(tmp_path / "saved"))
    saved = datasets.load_from_disk(str(tmp_path / "saved"))
    assert [b["premise"] for _, b in batches(saved, ["premise"])] == [ds["premise"]]
    assert [b["premise"] for _, b in batches(saved.select([1, 2]), ["premise"])] == [ds["premise"][1:3]]
    assert [b["premise"] for _, b in batches(saved.take(2), ["premise"])] == [ds["premise"][:2]]


def test_what_the_arrow_adapter_assumes_of_datasets_still_holds(tmp_path):
    """data/extra/arrow.py leans on details of `datasets` outside its public API; each is checked here, so that an
    upgrade that changes one fails this test rather than a training run: a saved data set's cache files are Arrow
    streams holding all its rows, a selection has an indices mapping (`_indices`) and a whole set none, and an
    `InMemoryTable` with features is a `Dataset` equal to `Dataset.from_dict`."""
    import pyarrow as pa

    from contradiction.data.extra.arrow import _rows_in, dataset_from_table

    ds = classlabel_dataset()
    ds.save_to_disk(str(tmp_path / "saved"))
    saved = datasets.load_from_disk(str(tmp_path / "saved"))
    assert saved._indices is None and saved.select([0, 2])._indices is not None
    files = [f["filename"] for f in saved.cache_files]
    assert files and sum(_rows_in(name) for name in files) == len(ds)
    table = pa.table({"premise": ds["premise"], "hypothesis": ds["hypothesis"], "label": ds["label"]})
    built = dataset_from_table(table, ds.features.copy())
    assert (
        built.features == ds.features
        and built.to_dict() == datasets.Dataset.from_dict(table.to_pydict(), features=ds.features).to_dict()
    )
