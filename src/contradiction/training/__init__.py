"""The training stage: from prepared data to a calibrated model folder with its card, optionally on the Hub.

- `arguments`: the recipe's dataclasses (`ModelArguments`, `DataArguments` beside `TrainingArguments`) and checks;
- `pipeline`: data loading with the extra corpora, tokenization, the Trainer and its metrics;
- `calibration`: temperature scaling folded into the classifier; `calibrate_cli`: the same for any model;
- `card`: the model card and its plots; `hub`: the push, checked before training starts.

Imports: `contradiction.data`, `contradiction.inference` and the shared top-level modules; never serving.
"""
