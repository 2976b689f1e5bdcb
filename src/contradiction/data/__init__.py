"""The data stage: what a model learns from and what it is asked about.

- `competition`: the competition CSV loaded (through `pairs`), split by language and label, saved (`data_prep.py`);
- `extra`: public NLI corpora beside it (any source, labels mapped by name, validation and test leaks dropped),
  built once per run into a folder named for its inputs;
- `long_premises`: document-length premises for training (a pair's premise among other premises of its language);
- `pairs`: the one reader of files of premise/hypothesis pairs (CSV, JSON Lines, Parquet), for training, the predict
  CLI and the app's upload: every check and its message once, streamed a chunk at a time;
- `prepare_cli`: the command line of `data_prep.py`.

Imports: the shared top-level modules (labels, errors, texts, languages, files) only; never inference, training or
serving.
"""
