"""extra_data.py and --extra_train_data: every file format, labels by name, item-wise deduplication, schedules."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Translation, TranslationVariableLanguages, Value
from training_run import ROOT, load_train_script, smoke_args

from contradiction.data.extra import ExtraOptions, build_extra, normalise, parse_spec
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


def build(specs, splits=VALIDATION, **options):
    return build_extra([str(s) for s in specs], splits, ExtraOptions(**options))


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
    extra, report = build([source, source], versions_per_item=2, max_rows_per_source=3, sample_seed=7)
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
    again, _ = build([source, source], versions_per_item=2, max_rows_per_source=3, sample_seed=7)
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


def test_hub_spec_offline_through_train_py(tmp_path, sample_dir, tiny_model_dir):
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    args = smoke_args(tiny_model_dir, tmp_path / "out", sample_dir, "--extra_train_data", "stanfordnlp/snli@train")
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --extra_train_data stanfordnlp/snli@train: is a Hub data set but the Hub is switched off "
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


@pytest.mark.parametrize("schedule", [["--extra_epochs", "1"], ["--extra_weight", "0.5"]], ids=["staged", "mixed"])
def test_staged_and_mixed_training_run_and_report(tmp_path, sample_dir, tiny_model_dir, schedule):
    out = tmp_path / "model"
    extra = sample_extra(tmp_path, sample_dir)
    load_train_script().main(
        smoke_args(
            tiny_model_dir, out, sample_dir, "--extra_train_data", extra, "--extra_licenses", "cc-by-4.0", *schedule
        )
    )
    data_report = json.loads((out / "data_report.json").read_text())
    results = json.loads((out / "eval_results.json").read_text())
    (entry,) = data_report["extra_data"]
    assert entry["items_dropped_overlap"] == 1 and entry["rows_dropped_overlap"] == 2  # both versions of the leak
    staged = schedule[0] == "--extra_epochs"
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
    import yaml
    from huggingface_hub import constants

    from contradiction.training.arguments import parse_args

    recipe = yaml.safe_load((ROOT / "configs" / "cpu-small-extra.yaml").read_text())
    monkeypatch.chdir(tmp_path)  # the recipe's relative paths, as a user who downloaded the files has them
    for path in recipe["extra_train_data"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    _, data_args, _ = parse_args([str(ROOT / "configs" / "cpu-small-extra.yaml")])
    assert len(data_args.extra_train_data) == len(data_args.extra_licenses) == 5
    # parsing a Hub SPEC asks nothing of the network: the Hub is "on" for it even where the machine is offline
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    _, data_args, _ = parse_args([str(ROOT / "configs" / "xlmr-large-xnli.yaml"), "--bf16", "false"])
    assert data_args.extra_train_data == ["facebook/xnli:all_languages@train", "nyu-mll/multi_nli@train"]
    assert data_args.extra_epochs == 1 and data_args.dedup == "premise"


def test_bad_extra_options_are_refused(tmp_path):
    from contradiction.training.arguments import parse_args

    base = ["--train_file", "x.csv", "--output_dir", str(tmp_path)]
    for flags, message in (
        (["--extra_weight", "0"], "--extra_weight 0.0 must be above 0"),
        (["--dedup", "none"], "--dedup none: use pair or premise"),
        (["--extra_versions_per_item", "0"], "--extra_versions_per_item 0 must be 1 or more"),
    ):
        with pytest.raises(UserError, match=message):
            parse_args(base + flags)
