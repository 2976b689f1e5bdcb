"""What counts as a text: one rule for the page, the API, the CSV checks and batch prediction."""

import unicodedata


def is_blank(text: object) -> bool:
    """Whether a text shows nothing: not a string, or only whitespace and invisible characters.

    Invisible means Unicode format and control characters (zero-width space and joiners, byte order mark,
    soft hyphen, ...): "\u200b\u200b" looks empty in a text box and carries no meaning for the model.
    """
    if not isinstance(text, str):
        return True
    return all(ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc") for ch in text)
