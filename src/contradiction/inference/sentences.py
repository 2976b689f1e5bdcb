"""The sentences of a text, with their offsets: sentencex with the text's language, and pythainlp's CRF model for
Thai runs, which mark no sentence end (chosen by benchmarks/segmenters.py: F1 0.881 over SIB-200's 15 languages,
against 0.847 for sentencex alone and 0.837 for blingfire; docs/results.md)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from contradiction.texts import is_blank

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_SHARE = 0.5  # a sentence at least this Thai (of its letters) is split again by the Thai segmenter


@dataclass(frozen=True)
class Span:
    """A piece of a text and where it is: `text == whole[start:end]`."""

    start: int
    end: int
    text: str


def split_sentences(text: str, language: str | None = None) -> list[Span]:
    """The sentences of `text`, with their offsets, surrounding whitespace left out; blank text has none.

    `language` (a code such as "de") picks sentencex's abbreviations and sentence ends; without one, English's
    rules, which know the sentence ends of the other scripts too. Thai has no sentence-final mark: Thai runs are
    split again by pythainlp's CRF segmenter.
    """
    if is_blank(text):
        return []
    import sentencex

    spans = []
    for boundary in sentencex.get_sentence_boundaries(language or "en", text):
        if boundary["is_paragraph_break"]:
            continue
        spans += _thai_split(text, *trim(text, boundary["start_index"], boundary["end_index"]))
    return [span for span in spans if span is not None]


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """`start` and `end` moved inwards past whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _thai_split(text: str, start: int, end: int) -> list[Span | None]:
    if start >= end:
        return [None]
    piece = text[start:end]
    letters = [c for c in piece if unicodedata.category(c).startswith("L")]
    thai = len(_THAI.findall(piece))
    if " " not in piece.strip() or not letters or thai < _THAI_SHARE * len(letters):
        return [Span(start, end, piece)]
    from pythainlp.tokenize import sent_tokenize

    spans, at = [], start
    for part in sent_tokenize(piece, engine="crfcut"):
        s, e = trim(text, at, at + len(part))
        at += len(part)
        if s < e:
            spans.append(Span(s, e, text[s:e]))
    return spans if at == end else [Span(start, end, piece)]  # the parts must cover the sentence exactly
