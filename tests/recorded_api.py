"""Requests to every JSON route, good and bad, and what the app answered them: the record that keeps the JSON API's
answers the same when its code changes (tests/test_json_api.py compares the app with it).

    python tests/recorded_api.py        # record again: only when an answer is meant to change (say why in the commit)

The app is the one `test_json_api.py` serves: the tiny model (its tokenizer is counted, not trained, so it is the
same on every machine), small limits (300 characters, 4 pairs, 5 labels), a prediction database, no MCP.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RECORD = HERE / "data" / "json_api_answers.json"

PAIR = {"premise": "A woman is reading on the train.", "hypothesis": "A woman is on a train."}
DOCUMENT = (
    "The river runs past the old mill. Two bakers sell bread on the square. A bus leaves every hour. "
    "On Mondays the museum is closed all day. The bridge was painted blue."
)

# (name, method, path, body: a JSON value, raw bytes, or None for no body); written for these tests
CASES: list[tuple[str, str, str, object]] = [
    ("one pair", "POST", "/api/v1/nli", PAIR),
    (
        "pairs",
        "POST",
        "/api/v1/nli",
        {"pairs": [["Il pleut.", "Le soleil brille."], ["Der Laden ist zu.", "Er ist zu."]]},
    ),
    ("no pairs", "POST", "/api/v1/nli", {"pairs": []}),
    ("a trailing slash", "POST", "/api/v1/nli/", PAIR),
    ("not JSON", "POST", "/api/v1/nli", b"premise=a&hypothesis=b"),
    ("invalid UTF-8", "POST", "/api/v1/nli", b'{"premise": "caf\xe9", "hypothesis": "b"}'),
    ("an empty body", "POST", "/api/v1/nli", b""),
    ("an array", "POST", "/api/v1/nli", b'[["a", "b"]]'),
    ("a string", "POST", "/api/v1/nli", b'"a"'),
    ("a missing hypothesis", "POST", "/api/v1/nli", {"premise": "a"}),
    ("no fields", "POST", "/api/v1/nli", {}),
    ("a number for a text", "POST", "/api/v1/nli", {"premise": 5, "hypothesis": "b"}),
    ("a list for a text", "POST", "/api/v1/nli", {"premise": "a", "hypothesis": ["b"]}),
    ("a boolean for a text", "POST", "/api/v1/nli", {"premise": True, "hypothesis": "b"}),
    ("an object for a text", "POST", "/api/v1/nli", {"premise": {"a": 1}, "hypothesis": "b"}),
    ("an unknown field", "POST", "/api/v1/nli", {**PAIR, "hypotesis": "b"}),
    ("a pair and pairs", "POST", "/api/v1/nli", {**PAIR, "pairs": []}),
    ("pairs not a list", "POST", "/api/v1/nli", {"pairs": "a, b"}),
    ("a pair of one text", "POST", "/api/v1/nli", {"pairs": [["a"]]}),
    ("a pair of three texts", "POST", "/api/v1/nli", {"pairs": [["a", "b", "c"]]}),
    ("a pair as an object", "POST", "/api/v1/nli", {"pairs": [{"premise": "a", "hypothesis": "b"}]}),
    ("a number in a pair", "POST", "/api/v1/nli", {"pairs": [["a", 1]]}),
    ("pairs over the limit", "POST", "/api/v1/nli", {"pairs": [["a", "b"]] * 5}),
    ("a text over the limit", "POST", "/api/v1/nli", {"premise": "x" * 301, "hypothesis": "b"}),
    ("an empty premise", "POST", "/api/v1/nli", {"premise": " \n", "hypothesis": "b"}),
    ("an invisible hypothesis", "POST", "/api/v1/nli", {"premise": "a", "hypothesis": "\u200b"}),
    ("a null premise", "POST", "/api/v1/nli", {"premise": None, "hypothesis": "b"}),
    ("an empty text in a pair", "POST", "/api/v1/nli", {"pairs": [["a", "b"], ["c", ""]]}),
    ("a lone surrogate", "POST", "/api/v1/nli", b'{"premise": "a\\ud800", "hypothesis": "b"}'),
    ("classify", "POST", "/api/v1/classify", {"text": "The match ended in a draw.", "labels": ["sports", "politics"]}),
    ("classify, labels as text", "POST", "/api/v1/classify", {"text": "Es regnet.", "labels": "Wetter, Sport"}),
    (
        "classify, multi-label",
        "POST",
        "/api/v1/classify",
        {
            "text": "The match ended.",
            "labels": ["sports", "health"],
            "template": "It is about {}.",
            "multi_label": True,
        },
    ),
    ("classify, a null template", "POST", "/api/v1/classify", {"text": "a", "labels": ["b", "c"], "template": None}),
    ("classify, no labels", "POST", "/api/v1/classify", {"text": "a"}),
    ("classify, no fields", "POST", "/api/v1/classify", {}),
    ("classify, an unknown field", "POST", "/api/v1/classify", {"text": "a", "labels": ["b"], "label": "c"}),
    ("classify, labels a number", "POST", "/api/v1/classify", {"text": "a", "labels": 5}),
    ("classify, a label a number", "POST", "/api/v1/classify", {"text": "a", "labels": ["b", 3]}),
    ("classify, a template a number", "POST", "/api/v1/classify", {"text": "a", "labels": ["b", "c"], "template": 1}),
    (
        "classify, multi_label a string",
        "POST",
        "/api/v1/classify",
        {"text": "a", "labels": ["b"], "multi_label": "yes"},
    ),
    ("classify, multi_label a number", "POST", "/api/v1/classify", {"text": "a", "labels": ["b"], "multi_label": 1}),
    ("classify, labels over the limit", "POST", "/api/v1/classify", {"text": "a", "labels": list("bcdefg")}),
    ("classify, a text over the limit", "POST", "/api/v1/classify", {"text": "x" * 301, "labels": ["b", "c"]}),
    ("classify, a text a number", "POST", "/api/v1/classify", {"text": 7, "labels": ["b", "c"]}),
    ("classify, an empty text", "POST", "/api/v1/classify", {"text": "", "labels": ["b", "c"]}),
    ("classify, a repeated label", "POST", "/api/v1/classify", {"text": "a", "labels": ["b", "B"]}),
    ("classify, an empty label", "POST", "/api/v1/classify", {"text": "a", "labels": "b,,c"}),
    ("classify, no label at all", "POST", "/api/v1/classify", {"text": "a", "labels": []}),
    ("classify, a template without {}", "POST", "/api/v1/classify", {"text": "a", "labels": ["b"], "template": "It."}),
    ("classify, not JSON", "POST", "/api/v1/classify", b"{text"),
    (
        "a document",
        "POST",
        "/api/v1/check_document",
        {"document": DOCUMENT, "claims": "The museum is open on Mondays. A bus leaves every hour."},
    ),
    ("a document, no claims", "POST", "/api/v1/check_document", {"document": DOCUMENT}),
    ("a document, no fields", "POST", "/api/v1/check_document", {}),
    ("a document, an unknown field", "POST", "/api/v1/check_document", {"document": "a", "claims": "b", "x": 1}),
    ("a document, empty", "POST", "/api/v1/check_document", {"document": " ", "claims": "b"}),
    ("a document, empty claims", "POST", "/api/v1/check_document", {"document": DOCUMENT, "claims": ""}),
    ("a document, a number", "POST", "/api/v1/check_document", {"document": 3, "claims": "b"}),
    ("a document, claims a list", "POST", "/api/v1/check_document", {"document": "a", "claims": ["b"]}),
    ("a document over the limit", "POST", "/api/v1/check_document", {"document": "x" * 50_001, "claims": "b"}),
    ("claims over the limit", "POST", "/api/v1/check_document", {"document": "a", "claims": "y" * 301}),
    ("a claim too long for a window", "POST", "/api/v1/check_document", {"document": DOCUMENT, "claims": "一" * 290}),
    ("a document, not JSON", "POST", "/api/v1/check_document", b"document"),
    ("GET a route", "GET", "/api/v1/nli", None),
    ("PUT a route", "PUT", "/api/v1/classify", None),
    ("POST the description", "POST", "/api/v1/openapi.json", None),
    ("another path", "POST", "/api/v1/documents", {}),
    ("the prefix alone", "GET", "/api/v1", None),
]


def send(http: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    if body is None:
        return http.request(method, path)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.request(method, path, content=content, headers={"content-type": "application/json"})


def answers(base_url: str) -> dict[str, dict]:
    """Each case's status and JSON answer (None for an answer that is not JSON) from the app at `base_url`."""
    got = {}
    with httpx.Client(base_url=base_url, timeout=120) as http:
        for name, method, path, body in CASES:
            response = send(http, method, path, body)
            json_answer = response.headers.get("content-type", "").startswith("application/json")
            got[name] = {"status": response.status_code, "body": response.json() if json_answer else None}
    return got


TOLERANCE = 1e-4  # bfloat16 rounding of the same pass (a CPU with native bfloat16 runs it, one without float32)


def untied(recorded: object, got: object) -> object:
    """`got` with a label, or an order of labels, taken from `recorded` where `got`'s own numbers cannot tell them
    apart (within `TOLERANCE`): the tiny model's three probabilities are nearly equal, so which one is on top may
    change with the CPU's arithmetic while every number stays within the tolerance."""
    if not (isinstance(recorded, dict) and isinstance(got, dict)):
        return got
    probabilities = got.get("probabilities")
    if isinstance(probabilities, dict) and recorded.get("label") in probabilities and "label" in got:
        if probabilities[recorded["label"]] >= max(probabilities.values()) - TOLERANCE:
            got = {**got, "label": recorded["label"]}
    labels, scores = got.get("labels"), got.get("scores")
    if isinstance(labels, list) and isinstance(scores, list) and sorted(labels) == sorted(recorded.get("labels", [])):
        score_of = dict(zip(labels, scores, strict=True))
        reordered = [score_of[label] for label in recorded["labels"]]
        if all(abs(a - b) <= TOLERANCE for a, b in zip(reordered, scores, strict=True)):
            got = {**got, "labels": list(recorded["labels"]), "scores": reordered}
    return got


def same(recorded: object, got: object, where: str = "") -> list[str]:
    """Where `got` differs from `recorded`: numbers within `TOLERANCE`, a label between numbers within it either way
    (`untied`), the rest exactly (keys in the same order)."""
    got = untied(recorded, got)
    if isinstance(recorded, float) or isinstance(got, float):
        ok = isinstance(got, int | float) and isinstance(recorded, int | float) and abs(recorded - got) <= TOLERANCE
        return [] if ok else [f"{where}: {got!r} instead of {recorded!r}"]
    if isinstance(recorded, dict) and isinstance(got, dict):
        if list(recorded) != list(got):
            return [f"{where}: keys {list(got)} instead of {list(recorded)}"]
        return [d for key in recorded for d in same(recorded[key], got[key], f"{where}.{key}")]
    if isinstance(recorded, list) and isinstance(got, list) and len(recorded) == len(got):
        return [d for i, (a, b) in enumerate(zip(recorded, got, strict=True)) for d in same(a, b, f"{where}[{i}]")]
    return [] if recorded == got else [f"{where}: {got!r} instead of {recorded!r}"]


def contract(description: dict) -> dict[str, dict]:
    """What an OpenAPI description promises, whoever wrote it: per path, its methods, the fields of its request and
    of its answer (through $ref, oneOf and anyOf, array items), and its response statuses."""

    def fields(schema: dict, prefix: str = "") -> set[str]:
        while "$ref" in schema:  # "#/components/schemas/Name"
            target = description
            for part in schema["$ref"].split("/")[1:]:
                target = target[part]
            schema = target
        found = set()
        for key in ("oneOf", "anyOf", "allOf", "prefixItems"):
            for option in schema.get(key, []):
                found |= fields(option, prefix)
        if isinstance(schema.get("items"), dict):
            found |= fields(schema["items"], prefix + "[]")
        for name, inner in schema.get("properties", {}).items():
            found |= {prefix + name} | fields(inner, prefix + name + ".")
        return found

    promised = {}
    for path, methods in description["paths"].items():
        for method, operation in methods.items():
            request = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            answer = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
            promised[f"{method.upper()} {path}"] = {
                "request": sorted(fields(request.get("schema", {}))),
                "answer": sorted(fields(answer.get("schema", {}))),
                "statuses": sorted(operation["responses"]),
            }
    return promised


def main() -> None:
    sys.path.insert(0, str(HERE))
    from local_app import served

    from contradiction.inference.predictor import Predictor
    from contradiction.serving.limits import Limits
    from contradiction.serving.monitoring.monitor import Monitor
    from contradiction.serving.monitoring.store import PredictionLog
    from contradiction.serving.page import build_demo
    from contradiction.tiny import build_tiny_model, sample_sentences

    folder = Path(tempfile.mkdtemp())
    model = build_tiny_model(folder / "model", sample_sentences(HERE.parent / "data" / "sample"), seed=0)
    limits = Limits(max_chars=300, max_pairs=4, max_labels=5)
    monitor = Monitor(PredictionLog(folder / "monitoring.sqlite"))
    demo = build_demo(Predictor.from_pretrained(model), limits, monitor, output_dir=folder / "outputs")
    with served(demo, limits, monitor, mcp_server=False) as url:
        recorded = answers(url)
        with httpx.Client(base_url=url, timeout=120) as http:
            recorded["the description"] = {"status": 200, "body": http.get("/api/v1/openapi.json").json()}
    RECORD.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {RECORD} ({len(recorded)} answers)")


if __name__ == "__main__":
    main()
