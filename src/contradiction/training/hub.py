"""Pushing a trained model folder to the Hugging Face Hub, with every check done before training starts."""

from __future__ import annotations

from pathlib import Path

from contradiction.errors import UserError

# training state and the prepared competition data stay local
PUSH_IGNORE = [
    "checkpoint-*",
    "checkpoint-*/**",
    "data/**",
    "extra-data/**",
    "extra-stage/**",
    "runs/**",
    "training_args.bin",
    "*.tmp",
]


def check_push(hub_model_id: str | None) -> None:
    """Fail at start, in one sentence, when a push requested for the end could not happen."""
    from huggingface_hub import constants, get_token

    if not hub_model_id:
        raise UserError("--push_to_hub needs --hub_model_id NAME (e.g. your-name/xlmr-base-watson).")
    if constants.HF_HUB_OFFLINE:
        raise UserError(
            "--push_to_hub was asked for but HF_HUB_OFFLINE=1 keeps the Hub unreachable; "
            "unset it or drop --push_to_hub."
        )
    if get_token() is None:
        raise UserError("--push_to_hub needs a Hub token: set HF_TOKEN or run `hf auth login` first.")


def push_folder(folder: str | Path, hub_model_id: str, commit_message: str = "Upload fine-tuned NLI model") -> str:
    """Create the model repository if needed and upload the folder (card and plots included); return its URL."""
    from huggingface_hub import HfApi

    api = HfApi()  # the token comes from HF_TOKEN or the login cache, never from us
    repo = api.create_repo(hub_model_id, repo_type="model", exist_ok=True)
    api.upload_folder(
        repo_id=hub_model_id,
        folder_path=str(folder),
        commit_message=commit_message,
        ignore_patterns=PUSH_IGNORE,
    )
    return str(repo)
