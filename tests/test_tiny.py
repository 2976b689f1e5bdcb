"""The tiny model: its sample sentences come with the package, and its cache folder is named for its inputs."""

from __future__ import annotations

from pathlib import Path

import contradiction
from contradiction.tiny import SAMPLE_DIR, cache_dir, cached_tiny_model, sample_sentences


def test_the_sample_sentences_are_found_inside_the_package():
    assert SAMPLE_DIR.parent == Path(contradiction.__file__).resolve().parent
    texts = sample_sentences()
    assert len(texts) == 2 * (150 + 30) and all(texts)  # every premise and hypothesis of train.csv and test.csv


def test_the_cache_folder_changes_with_the_sentences_and_the_seed(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = cache_dir(seed=0)
    assert folder.parent == tmp_path / ".cache" / "contradiction" and folder.name.startswith("tiny-xlmr-")
    assert cache_dir(seed=0) == folder
    assert cache_dir(seed=1) != folder
    assert cache_dir(seed=0, texts=[*sample_sentences(), "One more sentence."]) != folder


def test_the_tiny_model_is_built_once_into_its_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = cached_tiny_model(seed=0)
    assert folder == cache_dir(seed=0) and (folder / "tokenizer.json").is_file()
    built = (folder / "config.json").stat().st_mtime_ns
    assert cached_tiny_model(seed=0) == folder and (folder / "config.json").stat().st_mtime_ns == built
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no partial copy left behind
