"""The training stage: from prepared data to a calibrated model folder with its card, optionally on the Hub.

- `arguments`: the recipe's dataclasses (`ModelArguments`, `DataArguments` beside `TrainingArguments`) and checks;
- `pipeline`: data loading with the extra corpora, tokenization, staged training and the evaluation report;
- `trainer`: `NLITrainer`, the Trainer with evaluation in dataset order (the one place that reaches into its internals);
- `calibration`: temperature scaling folded into the classifier; `calibrate_cli`: the same for any model;
- `card`: the model card, through `huggingface_hub`'s `ModelCard` and `templates/model_card.md`; `plots`: its plots;
- `hub`: the push, checked before training starts.

Imports: `contradiction.data`, `contradiction.inference` and the shared top-level modules; never serving.
"""
