"""deploy/prometheus/: the alerting rules are valid and pass their promtool unit tests, the examples are valid
configurations, every metric a rule names is one the app exports, and a real Prometheus scraping a test app
fires the model-error alert when the model fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import ServedApp
from gradio_client.exceptions import AppError
from local_app import free_port
from prometheus_client.parser import text_string_to_metric_families

from contradiction.inference.predictor import Predictor
from contradiction.serving.cli import parse_args
from contradiction.serving.monitoring.drift import MIN_DRIFT_PREDICTIONS, MIN_LANGUAGE_DRIFT_PREDICTIONS

pytestmark = pytest.mark.slow  # promtool and a Prometheus server

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
ALERTS = DEPLOY / "alerts.yml"
PROMETHEUS_SERIES = {"up"}  # written by Prometheus itself for each scrape, not by the app


def tool(name: str, package: str) -> str:
    """The path of a Prometheus tool, or a skip that says how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} from Debian's {package} package (apt-get install {package})")
    return path


def run_tool(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def rule(name: str) -> dict:
    return next(r for r in rules() if r["alert"] == name)


# --- the rules and examples, checked by the real tools


def test_alert_rules_and_the_example_scrape_config_are_valid() -> None:
    promtool = tool("promtool", "prometheus")
    assert "SUCCESS: 8 rules found" in run_tool(promtool, "check", "rules", str(ALERTS))
    assert "is valid prometheus config" in run_tool(promtool, "check", "config", str(DEPLOY / "prometheus.yml"))


def test_alert_rules_pass_their_unit_tests() -> None:
    """Series in, alerts out, for every rule, with the cases where it must stay quiet."""
    promtool = tool("promtool", "prometheus")
    assert "SUCCESS" in run_tool(promtool, "test", "rules", str(DEPLOY / "tests" / "alerts_test.yml"))


def test_the_example_alertmanager_route_is_valid() -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    assert "SUCCESS" in run_tool(amtool, "check-config", str(DEPLOY / "alertmanager.yml"))


# --- the rules against the app's own metrics and settings (no Prometheus needed)

SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads: the names that are neither functions, keywords nor labels."""
    bare = GROUPING.sub(" ", re.sub(r"\[[^\]]*\]", " ", re.sub(r"\{[^}]*\}", " ", expr)))
    return {
        match.group(1)
        for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", bare)
        if match.group(2) is None and match.group(1) not in KEYWORDS
    }


def test_metric_names_are_read_from_promql() -> None:
    expr = 'sum by (job, le) (rate(a_total{kind="model"}[5m])) / b > 0.5 and on (job) up{job="x"} == 0'
    assert metric_names(expr) == {"a_total", "b", "up"}


def test_every_rule_tells_a_person_what_happened_and_where_to_look() -> None:
    for r in rules():
        assert r["labels"]["severity"] in {"critical", "warning"}, r["alert"]
        assert len(r["annotations"]["summary"]) > 20 and len(r["annotations"]["description"]) > 100, r["alert"]


@pytest.fixture
def app(serve_app_for_test) -> ServedApp:
    return serve_app_for_test()


def fail_always(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every forward pass raises, as a model that ran out of memory for good would."""

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure inside the model")

    monkeypatch.setattr(predictor, "predict_proba", broken)


def test_every_metric_a_rule_names_is_exported_by_the_app(app, monkeypatch) -> None:
    """The rules' metric names and label values are the app's contract: renaming one breaks a test, not an alert."""
    client, predictor, url = app.client, app.predictor, app.url
    client.predict("Il pleut depuis ce matin.", "Le soleil brille.", api_name="/predict")
    with pytest.raises(AppError):
        client.predict("", "An empty premise is refused.", api_name="/predict")
    fail_always(predictor, monkeypatch)
    with pytest.raises(AppError):
        client.predict("A man is sleeping.", "Nobody sleeps.", api_name="/predict")
    samples = [s for family in text_string_to_metric_families(httpx.get(f"{url}metrics").text) for s in family.samples]
    exported = {s.name for s in samples}

    named = set().union(*(metric_names(r["expr"]) for r in rules()))
    assert {"contradiction_errors_total", "contradiction_label_drift", "up"} <= named  # the parser found them
    assert named - PROMETHEUS_SERIES <= exported, f"not in /metrics: {sorted(named - PROMETHEUS_SERIES - exported)}"
    for r in rules():
        for name, matchers in SELECTOR.findall(r["expr"]):
            if name in PROMETHEUS_SERIES:
                continue
            for label, op, value in MATCHER.findall(matchers):
                values = {s.labels.get(label) for s in samples if s.name == name}
                assert values - {None}, f"{r['alert']}: {name} has no label {label}"
                if op == "=":
                    assert value in values, f"{r['alert']}: {name}{{{label}={value!r}}} is not exported ({values})"


def test_drift_rules_use_the_apps_threshold_and_minimum_predictions() -> None:
    """0.15 and the fewest predictions that warn, as the Monitoring tab has them (alerts.yml cannot read flags)."""
    threshold = parse_args([]).drift_threshold
    for name, gauge, minimum in (
        ("ContradictionLabelDrift", "contradiction_label_drift", MIN_DRIFT_PREDICTIONS),
        ("ContradictionLanguageDrift", "contradiction_language_drift", MIN_LANGUAGE_DRIFT_PREDICTIONS),
    ):
        expr = rule(name)["expr"]
        assert float(re.search(rf"{gauge} > ([0-9.]+)", expr).group(1)) == threshold, name
        assert int(re.search(r">= (\d+)", expr).group(1)) == minimum, name


# --- a real Prometheus, scraping a test app on the loopback

WINDOW_S = 30  # the test rule's window, for the 5 minutes of alerts.yml
DEADLINE_S = 90  # for Prometheus to start and the alert to fire


@pytest.fixture
def prometheus(app, tmp_path: Path) -> Iterator[str]:
    """A Prometheus on a free loopback port that scrapes the test app every second and evaluates the
    model-error rule of alerts.yml, with its 5-minute window cut to WINDOW_S seconds; its URL."""
    binary = tool("prometheus", "prometheus")
    app_url = app.url
    error_rule = rule("ContradictionModelErrors")
    error_rule["expr"] = error_rule["expr"].replace("[5m]", f"[{WINDOW_S}s]")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "test", "rules": [error_rule]}]}))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {"job_name": "contradiction", "static_configs": [{"targets": [httpx.URL(app_url).netloc.decode()]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def firing(url: str, name: str) -> list[dict]:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_prometheus_fires_the_model_error_alert_when_the_model_fails(app, prometheus, monkeypatch) -> None:
    client, predictor, app_url = app.client, app.predictor, app.url
    fail_always(predictor, monkeypatch)
    start = time.monotonic()
    errors, alerts = 0, []
    while not alerts and time.monotonic() - start < DEADLINE_S:
        with pytest.raises(AppError):  # one failing call at a time, spread over several scrapes
            client.predict("A man is sleeping.", "Nobody sleeps.", api_name="/predict")
        errors += 1
        alerts = firing(prometheus, "ContradictionModelErrors")
    assert alerts, f"no firing alert after {errors} model errors in {DEADLINE_S} s"
    (alert,) = alerts
    assert alert["labels"]["instance"] == httpx.URL(app_url).netloc.decode()
    assert alert["labels"]["severity"] == "critical"
    assert "requests failed inside the model" in alert["annotations"]["summary"]
    assert errors > 10 and time.monotonic() - start < WINDOW_S  # fired within the rule's window
