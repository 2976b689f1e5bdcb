"""data/long_premises.py: document-length premises built from training pairs, as configs/cpu-small-documents.yaml
trains on them."""

from __future__ import annotations

import pandas as pd
import pytest
from datasets import Dataset

from contradiction.data.extra.mixture import OUTPUT_FEATURES
from contradiction.data.long_premises import PAIR_OVERHEAD, add_long_premises
from contradiction.labels import LABELS

NEUTRAL = LABELS.index("neutral")


def words(texts) -> list[int]:
    """A whitespace tokenizer: a document's count is the sum of its parts', which the bounds below rely on."""
    return [len(text.split()) for text in texts]


@pytest.fixture
def train(sample_dir) -> Dataset:
    frame = pd.read_csv(sample_dir / "train.csv", dtype={"id": str})
    return Dataset.from_pandas(frame, features=OUTPUT_FEATURES, preserve_index=False)  # as the training data


def built(train: Dataset, **options) -> tuple[pd.DataFrame, dict]:
    longer, report = add_long_premises(train, words, **{"share": 0.5, "max_tokens": 64, **options})
    return longer.to_pandas().iloc[len(train) :], report


def sources(train: Dataset, row) -> list[dict]:
    """The training pairs an added row can come from: same hypothesis and language."""
    frame = train.to_pandas()
    return frame[(frame["hypothesis"] == row.hypothesis) & (frame["lang_abv"] == row.lang_abv)].to_dict("records")


def test_half_as_many_pairs_again_each_a_document_of_its_own_language(train) -> None:
    added, report = built(train)
    assert len(added) == report["rows"] == round(0.5 * len(train))
    assert added["id"].str.startswith("long-").all()
    frame, counts = train.to_pandas(), []
    for row in added.itertuples():
        # the document is made of training premises of the row's language and nothing else
        rest, parts = row.premise, 0
        for text in sorted(set(frame.loc[frame["lang_abv"] == row.lang_abv, "premise"]), key=len, reverse=True):
            parts += rest.count(text)
            rest = rest.replace(text, "")
        assert rest.strip() == "", row.premise
        counts.append(parts)
        # and it fits the reading length beside its hypothesis
        assert words([row.premise])[0] + words([row.hypothesis])[0] + PAIR_OVERHEAD <= 64
    # documents, not sentences: most hold several premises
    assert sum(c >= 2 for c in counts) > 0.8 * len(counts)


def test_a_kept_pair_keeps_its_label_and_a_removed_one_is_neutral_without_its_premise(train) -> None:
    added, report = built(train, removed_share=0.25)
    kept = removed = 0
    for row in added.itertuples():
        candidates = sources(train, row)
        if len(candidates) != 1:  # a hypothesis shared by two pairs: the source is not known here
            continue
        source = candidates[0]
        if source["premise"] in row.premise:
            assert row.label == source["label"]
            kept += 1
        else:
            assert row.label == NEUTRAL
            removed += 1
    assert kept > 0 and removed > 0
    assert removed <= report["removed_rows"] < len(added)


def test_without_a_removed_share_every_document_holds_its_pair_s_premise(train) -> None:
    added, report = built(train)
    assert report["removed_rows"] == 0
    for row in added.itertuples():
        assert any(s["premise"] in row.premise and s["label"] == row.label for s in sources(train, row))


def test_the_same_seed_gives_the_same_pairs_and_another_seed_others(train) -> None:
    first, _ = built(train, removed_share=0.25, seed=1)
    again, _ = built(train, removed_share=0.25, seed=1)
    other, _ = built(train, removed_share=0.25, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert first["premise"].tolist() != other["premise"].tolist()


def test_no_share_adds_nothing(train) -> None:
    longer, report = add_long_premises(train, words, share=0.0, max_tokens=64)
    assert len(longer) == len(train) and report == {"rows": 0}
