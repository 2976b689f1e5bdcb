"""What the page and `/analyze` say under an answer: the languages seen, how often the model was right in the
premise's language on its validation split (`ModelRecord`), and the notes that warn when to distrust it."""

from __future__ import annotations

from contradiction.inference.model_folder import ModelRecord
from contradiction.languages import language_name


def language_notes(
    premise_lang: str | None,
    hypothesis_lang: str | None,
    record: ModelRecord,
    top: float,
    low: float,
    names: tuple[str, str] = ("premise", "hypothesis"),
    warn_mixed: bool = True,
) -> tuple[dict | None, list[str]]:
    """The model's record in the premise's language, and plain sentences about what may weaken this answer.
    `names` are what the page calls the two sides (a classification's: the text and the labels); `warn_mixed`
    warns of two languages in one pair."""
    notes = []
    for name, code in zip(names, (premise_lang, hypothesis_lang), strict=True):
        if code is None:
            notes.append(f"The language of the {name} could not be told (too short, or no letters).")
    languages = [c for c in dict.fromkeys((premise_lang, hypothesis_lang)) if c is not None]
    if record.known:
        for code in languages:
            if code not in record.per_language:
                notes.append(
                    f"{language_name(code)} is not one of the {len(record.per_language)} languages the model "
                    "was trained and validated on; its answer may be no better than a guess."
                )
    if warn_mixed and premise_lang and hypothesis_lang and premise_lang != hypothesis_lang:
        first, second = language_name(premise_lang), language_name(hypothesis_lang)
        notes.append(
            f"The {names[0]} is in {first} and the {names[1]} in {second}; "
            "the model learned from pairs in one language, so mixed pairs are less reliable."
        )
    if top < low:
        notes.append(f"The top probability is only {top:.0%}: the model is unsure; treat this answer as a guess.")
    entry = record.per_language.get(premise_lang) if premise_lang else None
    known = None
    if entry is not None:
        known = {
            "language": premise_lang,
            "name": entry.get("language") or language_name(premise_lang),
            "validation_accuracy": entry["accuracy"],
            "validation_pairs": entry["rows"],
        }
    return known, notes


def language_markdown(
    premise_lang: str | None,
    hypothesis_lang: str | None,
    known: dict | None,
    notes: list[str],
    calibrated: bool | None,
    names: tuple[str, str] = ("premise", "hypothesis"),
) -> str:
    """The lines under the prediction on the page."""
    if premise_lang == hypothesis_lang:
        seen = f"**Language:** {language_name(premise_lang)}"
    else:
        first, second = (language_name(code) for code in (premise_lang, hypothesis_lang))
        seen = f"**Languages:** {names[0]} {first}, {names[1]} {second}"
    lines = [seen]
    if known is not None:
        lines.append(
            f"**{known['name']}:** right {known['validation_accuracy']:.0%} of the time on "
            f"{known['validation_pairs']} validation pairs."
        )
    if calibrated is not None:
        lines.append(
            "Confidences are calibrated on the validation split (temperature scaling)."
            if calibrated
            else "Confidences are the model's raw softmax, not calibrated: read them as a ranking."
        )
    lines += [f"⚠️ {note}" for note in notes]
    return "\n\n".join(lines)
