"""`NLITrainer`: the transformers `Trainer` with evaluation in dataset order, the one place that reaches into the
Trainer's internals.

With `train_sampling_strategy="group_by_length"` the stock Trainer also groups the evaluation set by length, and
`evaluate`/`predict` then return rows in that order, which would pair predictions with the wrong rows' languages.
Its private `_get_eval_sampler(eval_dataset)` is what chooses that sampler; tests/test_training.py checks that the
Trainer still has it and still asks it, so that an upgrade that changes either fails there.
"""

from __future__ import annotations

from torch.utils.data import SequentialSampler
from transformers import Trainer


class NLITrainer(Trainer):
    """A Trainer whose evaluation keeps dataset order, so predictions line up with each row's language.

    With `train_sampling_strategy="group_by_length"` the stock Trainer also groups the evaluation set by
    length, and `evaluate`/`predict` then return rows in that order.
    """

    def _get_eval_sampler(self, eval_dataset):
        if eval_dataset is None or self.args.world_size > 1:
            return None  # accelerate then shards batches in order and gathers them back in order
        return SequentialSampler(eval_dataset)
