"""Check claims against a whole document: the document split into sentences, packed into windows that fit the
model beside each claim, every window checked, the results combined into one answer per claim.

    checker = DocumentChecker(Predictor.from_pretrained("outputs/model"))
    result = checker.check(article, "The museum was founded in 1901. It is closed on Mondays.")
    result.label                          # "contradiction": one claim is ruled out by the document
    result.claims[1].evidence             # Span(start=..., end=..., text="The museum opens every day ...")

Why: the model reads `max_length` tokens of a pair (128 in the recipes) and was trained on single-sentence
premises; a longer premise is cut, and what decides may never be read (docs/results.md: documents of seven
sentences 0.50 accurate cut to 128 tokens, against 0.70 for their deciding pairs). Here nothing is cut:

- **Sentences**: `split_sentences` (sentencex, and pythainlp's CRF model for Thai, which marks no sentence ends:
  chosen by benchmarks/segmenters.py, docs/results.md). A sentence longer than a window is cut into pieces that
  fit, before a word where one starts in reach, else between tokens.
- **Windows**: consecutive sentences, at most `WINDOW_SENTENCES` and the tokens left beside the longest claim,
  each window starting with the last sentence of the one before (`overlap`), so every sentence is read with each
  neighbour. A document that fits beside its claims whole is one window, unless `split="always"`.
- **Claims**: the hypothesis split into sentences as well; each is checked against the document on its own.
- **Score** (`consistency`): a claim's consistency in [0, 1], higher = better supported: (1 + the largest
  P(entailment) - P(contradiction) of its windows) / 2, SummaC-ZS's score: one window that supports the claim is
  enough, whatever the others (about other things) say. A document's score is its lowest claim's: it is as
  consistent as its least supported claim. Chosen against other aggregations on real summaries and web pages
  (benchmarks/real_documents.py, docs/results.md).
- **Rule** (`decide`): a claim whose score reaches `SUPPORTED` is entailed (the best-supporting window decides);
  below it, one whose most contradicting window reaches P(contradiction) `CONTRADICTED` is contradicted (that
  window decides); the rest is neutral. Both thresholds were fitted on development rows (docs/results.md). The
  evidence is the sentence of the deciding window that, read alone with the claim, is most sure of the label (none
  for neutral). The document's label: contradiction when any claim is contradicted, entailment when every claim
  is entailed (its score reaches `SUPPORTED`), else neutral.

The probabilities come from any function of pairs (`Predictor.predict_proba`, the app's scheduler, the predict
CLI's processes); the tokenizer's counts from the predictor. `check_many` runs many documents' windows in one call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from contradiction.errors import UserError
from contradiction.inference.sentences import Span, split_sentences, trim
from contradiction.labels import LABELS
from contradiction.texts import is_blank

WINDOW_SENTENCES = 2  # sentences a window holds at most (docs/results.md: 2 against as many as fit in 256 tokens)
OVERLAP = 1  # sentences a window shares with the one before
MIN_ROOM = 8  # tokens a window needs at least beside a claim: a claim longer than that leaves no room
# The label's thresholds, fitted together on the even rows of the one development set with all three labels
# (benchmarks/documents.py; docs/results.md, "Claims checked against real documents", which also gives the score's
# cut between consistent and not on real summaries, lower than SUPPORTED)
SUPPORTED = 0.55  # consistency score from which a claim is entailed
CONTRADICTED = 0.6  # P(contradiction) of a window from which a claim short of SUPPORTED is contradicted

Probabilities = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""Probabilities (pairs, 3) in `LABELS` order of pairs given as premises and hypotheses."""

ENTAILMENT, NEUTRAL, CONTRADICTION = (LABELS.index(name) for name in ("entailment", "neutral", "contradiction"))


@dataclass
class Claim:
    """One claim's answer: its label, the deciding window's probabilities, and the evidence in the document."""

    text: str
    start: int  # where the claim is in the claims text
    end: int
    label: str
    score: float  # consistency in [0, 1], higher = better supported (`consistency`)
    probabilities: dict[str, float]
    evidence: Span | None  # the deciding sentence; None for a neutral claim
    window: Span  # the deciding window

    def to_dict(self) -> dict[str, Any]:
        """The API's shape: {claim, start, end, label, probabilities, evidence {text, start, end} or None,
        window {start, end}}."""
        return {
            "claim": self.text,
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "score": self.score,
            "probabilities": self.probabilities,
            "evidence": asdict(self.evidence) if self.evidence is not None else None,
            "window": {"start": self.window.start, "end": self.window.end},
        }


@dataclass
class DocumentResult:
    """The document's label, each claim's answer, and how the document was read."""

    label: str
    score: float  # the lowest of its claims' scores: a document is as consistent as its least supported claim
    claims: list[Claim]
    sentences: int  # pieces the document was split into (1 when it was read whole)
    windows: int
    pairs: int  # forward-pass rows it took, evidence included

    @property
    def probabilities(self) -> dict[str, float]:
        """The probabilities of the claim that decided the document's label (the first such claim)."""
        claim = next((c for c in self.claims if c.label == self.label), self.claims[0])
        return claim.probabilities

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": self.score,
            "claims": [claim.to_dict() for claim in self.claims],
            "sentences": self.sentences,
            "windows": self.windows,
            "pairs": self.pairs,
        }


@dataclass
class _Plan:
    claims: list[Span]
    pieces: list[Span]
    windows: list[tuple[int, int]]  # piece ranges [i, j)
    window_spans: list[Span] = field(default_factory=list)
    language: str | None = None

    def sentences_of(self, window: int) -> list[Span]:
        """The sentences of a window, where the evidence is looked for: its pieces, or, for a document read
        whole, its sentences."""
        first, last = self.windows[window]
        if last - first > 1:
            return self.pieces[first:last]
        piece = self.pieces[first]
        inside = split_sentences(piece.text, self.language)
        return [Span(piece.start + s.start, piece.start + s.end, s.text) for s in inside] or [piece]


@dataclass(frozen=True)
class Thresholds:
    """Where a claim's consistency score turns into a label: `supported` and above is entailment; below it, a claim
    that some window contradicts with at least `contradicted` is contradiction; the rest neutral."""

    supported: float = SUPPORTED
    contradicted: float = CONTRADICTED

    def __post_init__(self) -> None:
        for name in ("supported", "contradicted"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)}: a threshold is between 0 and 1")


def consistency(probs: np.ndarray) -> tuple[float, int]:
    """A claim's consistency score in [0, 1] from its windows' probabilities (windows, 3), and the window that
    gives it: (1 + the largest P(entailment) - P(contradiction) of a window) / 2, SummaC-ZS's score. 1: a window
    entails the claim for sure; 0.5: no window leans either way; 0: every window contradicts it."""
    support = probs[:, ENTAILMENT] - probs[:, CONTRADICTION]
    window = int(support.argmax())
    return float((1.0 + support[window]) / 2.0), window


def decide(probs: np.ndarray, thresholds: Thresholds | None = None) -> tuple[int, int, float]:
    """One claim's label (index in `LABELS`), deciding window and consistency score from its windows'
    probabilities (windows, 3): entailment when the score reaches `thresholds.supported` (the best-supporting
    window decides), else contradiction when a window's P(contradiction) reaches `thresholds.contradicted` (the
    most contradicting window decides), else neutral (the best-supporting window is shown)."""
    thresholds = thresholds or Thresholds()
    score, window = consistency(probs)
    if score >= thresholds.supported:
        return ENTAILMENT, window, score
    against = int(probs[:, CONTRADICTION].argmax())
    if probs[against, CONTRADICTION] >= thresholds.contradicted:
        return CONTRADICTION, against, score
    return NEUTRAL, window, score


def combine(labels: Sequence[str]) -> str:
    """A document's label from its claims': contradiction if any, entailment if all, else neutral."""
    if "contradiction" in labels:
        return "contradiction"
    return "entailment" if labels and all(label == "entailment" for label in labels) else "neutral"


def pack(
    lengths: Sequence[int], budget: int, overlap: int = OVERLAP, max_pieces: int | None = None
) -> list[tuple[int, int]]:
    """Windows of consecutive pieces whose tokens add up to at most `budget` (a piece over it alone is a window of
    its own), at most `max_pieces` each, each after the first starting `overlap` pieces before the end of the one
    before it."""
    windows, i, n = [], 0, len(lengths)
    most = max_pieces or n
    while i < n:
        j, total = i, 0
        while j < n and (j == i or (total + lengths[j] <= budget and j - i < most)):
            total += lengths[j]
            j += 1
        windows.append((i, j))
        if j >= n:
            break
        i = j - overlap if j - overlap > i else j
    return windows


class DocumentChecker:
    """Documents and their claims in, one `DocumentResult` each out (see the module's docstring for the rule).

    Args:
        predictor: counts tokens (`text_offsets`, `token_lengths`, `max_length`); also the probabilities unless
            `probabilities` is given.
        probabilities: the pairs' probabilities in `LABELS` order, e.g. through the app's scheduler.
        split: "auto" reads a document that fits beside its claims whole; "always" splits every document.
        overlap: sentences a window shares with the one before it.
        max_sentences: sentences a window holds at most; None: as many as fit.
        thresholds: where a claim's score turns into a label (`decide`).
    """

    def __init__(
        self,
        predictor: Any,
        probabilities: Probabilities | None = None,
        split: str = "auto",
        overlap: int = OVERLAP,
        max_sentences: int | None = WINDOW_SENTENCES,
        thresholds: Thresholds | None = None,
    ) -> None:
        if split not in ("auto", "always"):
            raise ValueError(f"split={split!r}: use 'auto' or 'always'")
        self.predictor = predictor
        self.probabilities = probabilities or predictor.predict_proba
        self.split = split
        self.overlap = overlap
        self.max_sentences = max_sentences
        self.thresholds = thresholds or Thresholds()
        self.max_length = int(predictor.max_length)

    @functools.cached_property
    def overhead(self) -> int:
        """The special tokens of a pair (XLM-R's <s> </s></s> </s>: 4), counted once, at the first document."""
        first, second = self.predictor.text_offsets(["a", "b"])
        return self.predictor.token_lengths(["a"], ["b"])[0] - len(first) - len(second)

    def check(self, document: str, claims: str, language: str | None = None) -> DocumentResult:
        """One document and its claims (one or several sentences).

        Raises:
            UserError: a blank document or claims, or a claim that leaves the document no room in a window.
        """
        return self.check_many([document], [claims], [language])[0]

    def check_many(
        self,
        documents: Sequence[str],
        claims: Sequence[str],
        languages: Sequence[str | None] | None = None,
        plans: Sequence[_Plan] | None = None,
    ) -> list[DocumentResult]:
        """Many documents, each with its claims: the windows of all of them in one call of `probabilities`, then
        one more for the evidence sentences. `plans`: how each is read, when the caller has planned them already
        (`plan`, e.g. to count its pairs first)."""
        plans, blocks = self.window_probabilities(documents, claims, languages, plans)
        decided = [[decide(block, self.thresholds) for block in claim_blocks] for claim_blocks in blocks]
        evidence_premises, evidence_hypotheses, asks = [], [], []
        for p, plan in enumerate(plans):
            for k, (claim, (label, window, _)) in enumerate(zip(plan.claims, decided[p], strict=True)):
                sentences = plan.sentences_of(window) if label != NEUTRAL else []
                if len(sentences) > 1:  # which of the window's sentences decides
                    for sentence in sentences:
                        asks.append((p, k, sentence))
                        evidence_premises.append(sentence.text)
                        evidence_hypotheses.append(claim.text)
        evidence_probs = (
            np.asarray(self.probabilities(evidence_premises, evidence_hypotheses)) if asks else np.zeros((0, 3))
        )
        best: dict[tuple[int, int], tuple[float, Span]] = {}
        for (p, k, sentence), row in zip(asks, evidence_probs, strict=True):
            score = float(row[decided[p][k][0]])
            if (p, k) not in best or score > best[(p, k)][0]:
                best[(p, k)] = (score, sentence)
        results = []
        for p, plan in enumerate(plans):
            answers = []
            for k, (claim, (label, window, score)) in enumerate(zip(plan.claims, decided[p], strict=True)):
                evidence = None
                if label != NEUTRAL:
                    evidence = best[(p, k)][1] if (p, k) in best else plan.sentences_of(window)[0]
                row = blocks[p][k][window]
                answers.append(
                    Claim(
                        claim.text,
                        claim.start,
                        claim.end,
                        LABELS[label],
                        score,
                        {name: float(x) for name, x in zip(LABELS, row, strict=True)},
                        evidence,
                        plan.window_spans[window],
                    )
                )
            windows = len(plan.window_spans)
            pairs = windows * len(plan.claims) + sum(1 for a in asks if a[0] == p)
            label = combine([a.label for a in answers])
            score = min(a.score for a in answers)
            results.append(DocumentResult(label, score, answers, len(plan.pieces), windows, pairs))
        return results

    def window_probabilities(
        self,
        documents: Sequence[str],
        claims: Sequence[str],
        languages: Sequence[str | None] | None = None,
        plans: Sequence[_Plan] | None = None,
    ) -> tuple[list[_Plan], list[list[np.ndarray]]]:
        """How each document is read (`plan`) and, per document and claim, the probabilities of every window
        (windows, 3), all from one call of `probabilities`."""
        languages = languages or [None] * len(documents)
        if plans is None:
            plans = [self.plan(d, c, lang) for d, c, lang in zip(documents, claims, languages, strict=True)]
        plans = list(plans)
        premises, hypotheses = [], []
        for plan in plans:
            for claim in plan.claims:
                premises += [w.text for w in plan.window_spans]
                hypotheses += [claim.text] * len(plan.window_spans)
        probs = np.asarray(self.probabilities(premises, hypotheses)) if premises else np.zeros((0, 3))
        blocks, at = [], 0
        for plan in plans:
            n = len(plan.window_spans)
            blocks.append([probs[at + k * n : at + (k + 1) * n] for k in range(len(plan.claims))])
            at += n * len(plan.claims)
        return plans, blocks

    def plan(self, document: str, claims: str, language: str | None = None) -> _Plan:
        """How a document and its claims will be read: claims, the document's pieces and windows."""
        if is_blank(document):
            raise UserError("The document is empty; paste the text to check the claims against.")
        if is_blank(claims):
            raise UserError("There is no claim to check; write one or more sentences about the document.")
        claim_spans = split_sentences(claims, language)
        claim_tokens = [len(o) for o in self.predictor.text_offsets([c.text for c in claim_spans])]
        budget = self.max_length - self.overhead - max(claim_tokens)
        longest = claim_spans[claim_tokens.index(max(claim_tokens))].text
        if budget < MIN_ROOM:
            i = claim_tokens.index(max(claim_tokens))
            raise UserError(
                f"Claim {i + 1} has {claim_tokens[i]} tokens and the model reads {self.max_length} per pair, which "
                f"leaves the document no room; split it into shorter sentences."
            )
        start, end = trim(document, 0, len(document))
        whole = Span(start, end, document[start:end])
        sentences = [whole]
        if self.split == "always" or len(self.predictor.text_offsets([whole.text])[0]) > budget:
            sentences = split_sentences(document, language)
        # pack; a window whose text tokenizes longer than its pieces (a piece cut inside a word, or sentences
        # without a space between them, may) is packed again with less room, so that no pair is cut
        for _ in range(4):
            pieces, lengths = self._pieces(document, sentences, budget)
            windows = pack(lengths, budget, self.overlap, self.max_sentences)
            spans = [
                Span(pieces[i].start, pieces[j - 1].end, document[pieces[i].start : pieces[j - 1].end])
                for i, j in windows
            ]
            counts = self.predictor.token_counts([w.text for w in spans], [longest] * len(spans))
            over = max(total - self.max_length for _, total in counts)
            if over <= 0:
                break
            budget -= over + 1
        return _Plan(claim_spans, pieces, windows, spans, language)

    def _pieces(self, document: str, sentences: list[Span], budget: int) -> tuple[list[Span], list[int]]:
        """Sentences, each one over `budget` tokens cut into pieces that fit (before a word where one starts in
        reach, else between tokens); their token counts."""
        pieces, lengths = [], []
        for sentence, offsets in zip(sentences, self.predictor.text_offsets([s.text for s in sentences]), strict=True):
            i = 0
            while i < len(offsets):
                j = min(i + budget, len(offsets))
                if j < len(offsets):  # back to the start of the last word that begins in reach
                    k = j
                    while k > i + 1 and not sentence.text[offsets[k][0] - 1].isspace():
                        k -= 1
                    j = k if k > i + 1 else j
                end = sentence.start + (offsets[j][0] if j < len(offsets) else len(sentence.text))
                s, e = trim(document, sentence.start + offsets[i][0] if i else sentence.start, end)
                if s < e:
                    pieces.append(Span(s, e, document[s:e]))
                    lengths.append(j - i)
                i = j
        return pieces, lengths
