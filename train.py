"""Fine-tune a multilingual encoder for NLI with the transformers Trainer; evaluate per language; write a card.

    # offline quick start: a tiny XLM-R built on the fly, the sample data, a few steps
    accelerate launch train.py configs/smoke.yaml

    # the real data on one GPU (any recipe value can be overridden by a flag after the recipe)
    accelerate launch --config_file configs/accelerate/single_gpu.yaml train.py configs/xlmr-base.yaml \
        --train_file data/watson/train.csv --output_dir outputs/xlmr-base-watson

    # several GPUs (DDP), pushing the model and its card to the Hub at the end
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml train.py configs/xlmr-large.yaml \
        --push_to_hub --hub_model_id your-name/xlmr-large-watson

    # two processes on a CPU (DDP over gloo)
    accelerate launch --multi_gpu --num_processes 2 train.py configs/smoke.yaml --output_dir outputs/ddp

    # more data: the recipe's public NLI sets, deduplicated item by item against the validation and test pairs
    accelerate launch train.py configs/cpu-small-extra.yaml
    # or other sources in place of the recipe's, each SPEC[,license=L][,max_rows=N][,versions_per_item=K][,weight=W]
    accelerate launch train.py configs/cpu-small-extra.yaml --extra_data data/ocnli.csv.gz,license=cc-by-nc-2.0

Every option: `python train.py --help`.
"""

import logging
from pathlib import Path

import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    set_seed,
)

from contradiction.cli import run_main
from contradiction.data.long_premises import add_long_premises
from contradiction.errors import UserError
from contradiction.files import write_json
from contradiction.inference.model_folder import DATA_REPORT_FILE, EVAL_RESULTS_FILE
from contradiction.labels import ID2LABEL, LABEL2ID, NUM_LABELS
from contradiction.tiny import cached_tiny_model
from contradiction.training.arguments import (
    TINY_MODEL,
    in_extra_stage,
    parse_args,
    resolve_checkpoint,
    resolved_recipe,
    save_recipe,
)
from contradiction.training.card import write_card
from contradiction.training.hub import check_push, push_folder
from contradiction.training.pipeline import (
    add_extra_data,
    evaluation_report,
    finished_extra_stage,
    freeze_word_embeddings,
    limit,
    load_data,
    make_compute_metrics,
    set_cpu_threads,
    tokenize,
    train_extra_stage,
)
from contradiction.training.plots import save_plots
from contradiction.training.trainer import NLITrainer

logger = logging.getLogger("train")


def main(argv: list[str] | None = None) -> None:
    # --- arguments: recipe, then flags; every check that could fail late is made now
    model_args, data_args, training_args = parse_args(argv)
    push = training_args.push_to_hub
    if push:
        check_push(training_args.hub_model_id)
    training_args.push_to_hub = False  # we push the finished folder, card and plots included, once at the end
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_warning()
    set_seed(training_args.seed)
    set_cpu_threads(model_args, training_args)
    resume = resolve_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    is_main = training_args.process_index == 0

    # --- data
    splits, data_report = load_data(data_args, training_args)
    if "validation" not in splits:
        raise UserError(f"{data_args.dataset_dir}: has no validation split; prepare it with data_prep.py.")
    if data_args.extra_data:  # deduplicated against the whole validation and test splits
        splits, data_report = add_extra_data(splits, data_report, data_args, training_args)
    splits = limit(splits, data_args)

    # --- model and tokenizer
    model_path = model_args.model_name_or_path
    if model_path == TINY_MODEL:  # cached in a folder named for its inputs: rebuilt when any of them changes
        with training_args.main_process_first(desc="building the tiny model"):  # the others find it built
            model_path = str(cached_tiny_model(training_args.seed))
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=model_args.trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path,
            num_labels=NUM_LABELS,
            id2label=ID2LABEL,
            label2id=LABEL2ID,
            trust_remote_code=model_args.trust_remote_code,
        )
    except (OSError, ValueError, RuntimeError) as err:  # missing, unreachable, or a head of another shape
        detail = str(err).strip().splitlines()[0]
        if "mismatched" in detail:
            detail = "its classification head has another number of labels"
        raise UserError(
            f"--model_name_or_path {model_args.model_name_or_path}: cannot be loaded as a 3-label classifier "
            f"({detail}); pass a backbone or a 3-label NLI model (Hub id or folder)."
        ) from None

    # --- document-length premises (a share of the training pairs again, among other premises of their language)
    if data_args.long_premise_share > 0:
        splits["train"], added = add_long_premises(
            splits["train"],
            lambda texts: [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]],
            data_args.long_premise_share,
            data_args.long_premise_tokens,
            data_args.long_premise_removed_share,
            training_args.seed,
        )
        data_report = {**(data_report or {}), "long_premises": added}
        logger.info("long premises: %s", added)

    if model_args.freeze_embeddings:
        logger.info("word embeddings frozen: %d parameters not trained", freeze_word_embeddings(model))

    # --- tokenize (pairs, longest text truncated first, padding per batch)
    encoded = tokenize(splits, tokenizer, data_args, training_args)
    train_dataset, eval_dataset = encoded["train"], encoded["validation"]

    # --- train
    callbacks = []
    if data_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    shared = {
        "model": model,
        "eval_dataset": eval_dataset,
        "processing_class": tokenizer,
        "data_collator": DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if training_args.bf16 else None),
        "compute_metrics": make_compute_metrics(eval_dataset),
    }
    extra_stage = None
    stage_one_resume, resume = (resume, None) if in_extra_stage(resume) else (None, resume)
    if "extra" in encoded and resume is None:  # staged: the extra data first (resumed there, or skipped if done)
        extra_stage = train_extra_stage(
            shared,
            encoded["extra"],
            training_args,
            data_args.extra_epochs,
            stage_one_resume,
            data_args.extra_save_steps,
        )
        logger.info("after the extra-data stage: validation accuracy %.4f", extra_stage["validation_accuracy"])
    elif "extra" in encoded:  # resumed in stage two: stage one's report, from the run it continues
        extra_stage = finished_extra_stage(training_args.output_dir)
    trainer = NLITrainer(args=training_args, train_dataset=train_dataset, callbacks=callbacks, **shared)
    train_result = trainer.train(resume_from_checkpoint=resume)

    # --- evaluate: overall, per language, confusion matrix; calibrate (same result in one or many processes)
    report = evaluation_report(trainer, eval_dataset, calibrate=model_args.calibrate)
    report["train_rows"] = len(train_dataset)
    report["train_runtime_s"] = train_result.metrics.get("train_runtime")
    report["processes"] = training_args.world_size
    if extra_stage is not None:
        report["extra_stage"] = extra_stage
    logger.info("validation accuracy %.4f, macro-F1 %.4f", report["accuracy"], report["macro_f1"])

    # --- save: model, tokenizer, results, plots, recipe, card (main process only)
    trainer.save_model(training_args.output_dir)
    trainer.save_metrics("train", train_result.metrics)
    if is_main:
        out = Path(training_args.output_dir)
        recipe = resolved_recipe(model_args, data_args, training_args)
        recipe["push_to_hub"] = push
        save_recipe(recipe, out)
        write_json(out / EVAL_RESULTS_FILE, report)
        if data_report:
            write_json(out / DATA_REPORT_FILE, data_report)
        save_plots(report, out)
        name = training_args.hub_model_id or out.name
        write_card(report, recipe, data_report, out, name)
        print(f"saved model, card and results to {out} (validation accuracy {report['accuracy']:.4f})")

        # --- push
        if push:
            print(f"pushed to {push_folder(out, training_args.hub_model_id)}")
    trainer.accelerator.wait_for_everyone()


if __name__ == "__main__":
    run_main(main)
