"""Leak audit of a model trained with extra data: did any version of an evaluated item reach training?

Rebuilds the exact extra rows a run trained on from its `recipe.yaml` and prepared `data/` folder (the
sampling is seeded), then checks them independently of the deduplication code: items are found through
the sources' own `item` column, and pairs are matched after stripping and case folding only (no
punctuation removal), so the check does not share the normalisation it audits.

    python benchmarks/dedup_audit.py --model_dir /work/runs/extra-mixed
    python benchmarks/dedup_audit.py --model_dir /work/runs/extra-mixed --moved_to ../shared/data/nli-extra
"""

from __future__ import annotations

import argparse
import dataclasses
import unicodedata
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml
from common import print_table, save

from contradiction.data.competition import load_prepared
from contradiction.data.extra import build_extra, parse_source
from contradiction.training.arguments import legacy_extra_data


def key(premise: str, hypothesis: str) -> tuple[str, str]:
    return tuple(" ".join(unicodedata.normalize("NFKC", t).casefold().split()) for t in (premise, hypothesis))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True, help="a folder train.py wrote with --extra_data")
    parser.add_argument("--moved_to", help="the folder the local sources are in now, if they moved since training")
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    recipe = yaml.safe_load((model_dir / "recipe.yaml").read_text())
    # the recipe.yaml of a run from before the mixture holds the flat extra_* options instead
    sources = [parse_source(s) for s in recipe["extra_data"]] if "extra_data" in recipe else legacy_extra_data(recipe)
    if args.moved_to:
        moved = [Path(args.moved_to, Path(source.path).name) for source in sources]
        sources = [
            dataclasses.replace(s, path=str(m)) if m.exists() else s for s, m in zip(sources, moved, strict=True)
        ]
    splits, _ = load_prepared(model_dir / "data")
    extra, report = build_extra(sources, splits, recipe["dedup"], recipe["extra_sample_seed"])
    trained = {key(p, h) for p, h in zip(extra["premise"], extra["hypothesis"], strict=True)}

    rows = []
    for split in [name for name in splits if name != "train"]:
        evaluated = {
            key(p, h): lang
            for p, h, lang in zip(*(splits[split][c] for c in ("premise", "hypothesis", "lang_abv")), strict=True)
        }
        row = {"split": split, "evaluated_pairs": len(evaluated), "pairs_trained_on": len(trained & set(evaluated))}
        versions_of_evaluated_items: set[tuple[str, str]] = set()
        items_found = 0
        for source in sources:
            if not Path(source.path).is_file():
                continue
            table = pd.read_csv(source.path, keep_default_na=False)
            if "item" not in table.columns:
                continue
            by_item: dict[str, list] = defaultdict(list)
            for item, p, h in zip(table["item"], table["premise"], table["hypothesis"], strict=True):
                by_item[item].append(key(p, h))
            for versions in by_item.values():
                if any(v in evaluated for v in versions):
                    items_found += 1
                    versions_of_evaluated_items.update(versions)
        row["evaluated_items_in_sources"] = items_found
        row["their_versions"] = len(versions_of_evaluated_items)
        row["versions_trained_on"] = len(trained & versions_of_evaluated_items)
        rows.append(row)
    columns = [
        "split",
        "evaluated_pairs",
        "pairs_trained_on",
        "evaluated_items_in_sources",
        "their_versions",
        "versions_trained_on",
    ]
    print(f"extra rows trained on: {len(extra)} from {len(sources)} sources")
    print_table(rows, columns)
    save("dedup_audit", {"model_dir": str(model_dir), "extra_rows": len(extra), "splits": rows, "sources": report})


if __name__ == "__main__":
    main()
