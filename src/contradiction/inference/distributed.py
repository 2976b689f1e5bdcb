"""Files predicted by several processes (`accelerate launch --num_processes N`), byte for byte as one process would.

What the predict and classify command lines share: a check made once on the main process, a chunk's batches dealt
round robin to the processes and gathered back in order, and a progress bar that moves with them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from contradiction.cli import USER_ERROR_STATUS
from contradiction.errors import UserError
from contradiction.inference.predictor import Predictor

if TYPE_CHECKING:
    from accelerate import PartialState

T = TypeVar("T")


def run_distributed(work: Callable[[PartialState], None]) -> None:
    """Run `work` in this process: alone, or as one of the N that `accelerate launch` started (its rank, device).

    A user's error is said once, by the main process; the others exit with the same status.
    """
    import torch
    from accelerate import PartialState  # no cost of its own: transformers imports it to load a model anyway

    # without a GPU, accelerate joins the processes over gloo only when told cpu=True; else each thinks it is alone
    state = PartialState(cpu=not torch.cuda.is_available())
    try:
        work(state)
    except UserError:
        if not state.is_main_process:
            sys.exit(USER_ERROR_STATUS)  # every process meets the same error; the main process says it once
        raise
    finally:
        # leave the process group before the interpreter exits: a gloo group torn down by the exit itself can
        # abort a process ("terminate called without an active exception") after every row is written
        state.destroy_process_group()


def on_main_process(state: PartialState, work: Callable[[], T]) -> T:
    """Run `work` on the main process alone and hand its result, or its user error, to every process.

    Reading a file through or checking the outputs once is enough; the other processes then stop with the
    same exit status, leaving the message to the main process.
    """
    from accelerate.utils import broadcast_object_list

    outcome: list[Any] = [None]
    error: UserError | None = None
    if state.is_main_process:
        try:
            outcome[0] = ("done", work())
        except UserError as err:
            error, outcome[0] = err, ("error", str(err))
    broadcast_object_list(outcome)
    kind, value = outcome[0]
    if kind == "error":
        if error is not None:
            raise error
        sys.exit(USER_ERROR_STATUS)
    return value


def predict_chunk(
    predictor: Predictor,
    premises: Sequence[str],
    hypotheses: Sequence[str],
    state: PartialState,
    progress: Callable[[int], None] | None = None,
    logits: bool = False,
) -> np.ndarray:
    """Probabilities of one chunk, shape (pairs, 3) in our label order, or with `logits` the raw logits in the
    model's order, on every process; the forward passes shared among them.

    The batches are those `Predictor.logits` makes of the whole chunk (longest pairs first, `batch_size` at a
    time), dealt round robin: each batch holds the same pairs whatever the number of processes, so N processes
    write the bytes one writes, and each gets long and short batches alike.
    """
    from accelerate.utils import gather_object

    run = predictor.logits if logits else predictor.predict_proba
    report = progress or (lambda _done: None)
    if state.num_processes == 1:
        return run(premises, hypotheses, progress=lambda done, _total: report(done))
    with state.split_between_processes(list(range(len(premises)))) as share:  # each tokenizes its share once
        mine = predictor.token_lengths([premises[i] for i in share], [hypotheses[i] for i in share])
    lengths = gather_object(mine)
    order = sorted(range(len(premises)), key=lambda i: -lengths[i])
    size = predictor.options.batch_size
    batches = [order[start : start + size] for start in range(0, len(order), size)]
    results = []
    for batch in batches[state.process_index :: state.num_processes]:
        results.append((batch, run([premises[i] for i in batch], [hypotheses[i] for i in batch], len(batch))))
        report(sum(len(b) for b, _ in results))
    width = predictor.model.config.num_labels if logits else len(predictor.labels)
    merged = np.zeros((len(premises), width), dtype=np.float32)
    for batch, values in gather_object(results):
        merged[batch] = values
    return merged


def bar_advance(bar: Any, start: int, rows: int, processes: int) -> Callable[[int], None]:
    """Move the bar as the main process's batches of a chunk finish, taking the others to keep the same pace."""
    return lambda own: bar.update(min(start + own * processes, start + rows) - bar.n)
