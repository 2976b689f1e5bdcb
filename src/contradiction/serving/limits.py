"""What one request may hold (`Limits`, each a flag of app.py and an environment variable), and the one check
of a text that the page, the API and the uploads share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from contradiction.errors import UserError
from contradiction.texts import is_blank


@dataclass(frozen=True)
class Limits:
    """What one request may hold. Each is a flag of app.py and an environment variable (see `LIMIT_ENV`)."""

    max_chars: int = 2000  # characters per text (premise or hypothesis), in the boxes and in the API
    max_pairs: int = 256  # pairs per /predict_batch call; larger jobs belong in the CSV tab or the CLI
    max_rows: int = 20_000  # rows per uploaded CSV file
    max_upload_mb: float = 20.0  # size of an uploaded file, in MB (2^20 bytes)
    max_labels: int = 32  # candidate labels per /classify call: each one more pair in the text's forward pass
    max_document_chars: int = 50_000  # characters per document of /check_document (its claims: max_chars)
    max_document_pairs: int = 1024  # windows x claim sentences of one document check: its model passes
    max_in_flight: int = 64  # requests at once through one route (bounds.py)
    max_client_in_flight: int = 8  # requests at once of one client through one route
    rate_limit: str = "300/minute"  # requests of one client through one route, a moving window (`limits` syntax)

    def __post_init__(self) -> None:
        for name in NUMBERS:
            if not getattr(self, name) > 0:
                raise UserError(f"--{name} {getattr(self, name)} must be a positive number.")
        from limits import parse

        try:
            parse(self.rate_limit)
        except ValueError:
            raise UserError(
                f"--rate_limit {self.rate_limit!r} is not a rate; write it as N/second, N/minute or N/hour, "
                "e.g. 300/minute."
            ) from None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)  # binary megabytes, as Gradio's messages count them

    @property
    def max_body_bytes(self) -> int:
        """The largest JSON body the /api/v1 routes read: a full list of pairs at `max_chars` per text, 6 bytes a
        character (a \\uXXXX escape, as json.dumps writes every non-ASCII character), and 1 MB for the rest; or a
        whole document and its claims, when that is more."""
        return max(self.max_pairs * 2 * self.max_chars, self.max_document_chars + self.max_chars) * 6 + 2**20


NUMBERS = (
    "max_chars",
    "max_pairs",
    "max_rows",
    "max_upload_mb",
    "max_labels",
    "max_document_chars",
    "max_document_pairs",
    "max_in_flight",
    "max_client_in_flight",
)

LIMIT_ENV = {
    "max_chars": "CONTRADICTION_MAX_CHARS",
    "max_pairs": "CONTRADICTION_MAX_PAIRS",
    "max_rows": "CONTRADICTION_MAX_ROWS",
    "max_upload_mb": "CONTRADICTION_MAX_UPLOAD_MB",
    "max_labels": "CONTRADICTION_MAX_LABELS",
    "max_document_chars": "CONTRADICTION_MAX_DOCUMENT_CHARS",
    "max_document_pairs": "CONTRADICTION_MAX_DOCUMENT_PAIRS",
    "max_in_flight": "CONTRADICTION_MAX_IN_FLIGHT",
    "max_client_in_flight": "CONTRADICTION_MAX_CLIENT_IN_FLIGHT",
    "rate_limit": "CONTRADICTION_RATE_LIMIT",
}


class TextProblem(NamedTuple):
    """What is wrong with a text and the fix, as sentence parts ("is empty", "send a sentence"), and the HTTP
    status the JSON API answers it with: 400 not text at all, 413 over a limit, 422 a text the model cannot use."""

    what: str
    fix: str
    status: int


def text_problem(text: object, max_chars: int) -> TextProblem | None:
    """What is wrong with one text of a pair, or None when the model can take it."""
    if text is not None and not isinstance(text, str):  # a number or a list where a JSON client meant a string
        return TextProblem(f"is not text ({type(text).__name__})", "send a string", 400)
    if is_blank(text):  # whitespace, or only invisible characters such as zero-width spaces
        return TextProblem("is empty", "send a sentence", 422)
    if len(text) > max_chars:
        return TextProblem(f"has {len(text):,} characters, over the limit of {max_chars:,}", "shorten it", 413)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800" arrives fine in JSON but breaks the tokenizer
        return TextProblem("is not valid Unicode (it holds an unpaired surrogate)", "send UTF-8 text", 422)
    return None
