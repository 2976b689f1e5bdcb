"""The app's Monitoring tab, laid out as the page shows it: period and refresh, the summary, then four plots.

The figures come from `Monitor.dashboard` (monitor.py); this module places them and decides how their axes
read. Plot times are in the viewer's time zone (Vega-Lite's time scale) and always in 24-hour form.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import cycle

import gradio as gr
import pandas as pd

from contradiction.serving.monitoring.monitor import LATENCY_PERCENTILES, Monitor

SERIES_COLORS = {  # a label's training share in a pale shade of its live colour
    "entailment": "#2563eb",
    "entailment (training)": "#93c5fd",
    "neutral": "#d97706",
    "neutral (training)": "#fcd34d",
    "contradiction": "#dc2626",
    "contradiction (training)": "#fca5a5",
}
LANGUAGE_COLORS = {"this period": "#2563eb", "training": "#94a3b8"}
ENDPOINT_COLORS = {  # (p95, p50): an endpoint's median in a pale shade of its p95 colour
    "predict": ("#2563eb", "#93c5fd"),
    "predict_batch": ("#16a34a", "#86efac"),
    "predict_file": ("#9333ea", "#d8b4fe"),
    "analyze": ("#d97706", "#fcd34d"),
}
SPARE_COLORS = (
    ("#475569", "#cbd5e1"),
    ("#0891b2", "#67e8f9"),
    ("#be123c", "#fda4af"),
)  # for the other endpoints, in turn
PERIODS = [("Last hour", 3600), ("Last day", 86400), ("Last week", 7 * 86400), ("Everything", 0)]
TIME_TITLE = "time (your time zone)"
# d3 time formats: Vega-Lite's default axis labels are 12-hour without am/pm ("01:25" for 13:25)
HOURS = "%H:%M"
DAYS_AND_HOURS = "%d %b %H:%M"
DAYS = "%d %b %Y"


def time_axis_format(times: pd.Series) -> str:
    """The x-axis label format for plots over `times`: hours and minutes over a day or less, the day as well
    over longer spans, the day alone from the span where points are a day or more apart (see `_bucket_seconds`)."""
    if times.empty:
        return HOURS
    span = times.max() - times.min()
    if span <= pd.Timedelta(days=1):
        return HOURS
    return DAYS_AND_HOURS if span <= pd.Timedelta(days=15) else DAYS


def latency_colors(series: Iterable[str]) -> dict[str, str]:
    """A colour for each latency series ("predict p95"): one hue per endpoint, pale for the median."""
    percentiles = list(LATENCY_PERCENTILES)
    endpoints = sorted({name.rsplit(" ", 1)[0] for name in series})
    spare = cycle(SPARE_COLORS)
    colors = {}
    for endpoint in endpoints:
        p95, p50 = ENDPOINT_COLORS.get(endpoint) or next(spare)
        colors |= {f"{endpoint} {percentiles[0]}": p50, f"{endpoint} {percentiles[1]}": p95}
    return colors


def dashboard_outputs(monitor: Monitor, period_s: int) -> tuple:
    """The tab's summary and plots for the period (0: everything), with axes fitted to what they show."""
    board = monitor.dashboard(period_s or None)
    time_format = time_axis_format(board.label_shares["time"])
    languages = list(dict.fromkeys(board.language_shares["language"]))  # the frame's order: training share first
    return (
        board.summary,
        gr.LinePlot(board.label_shares, x_axis_format=time_format),
        gr.LinePlot(board.language_shares, sort=languages),
        gr.LinePlot(board.latency, x_axis_format=time_format, color_map=latency_colors(board.latency["series"])),
        gr.LinePlot(board.low_confidence, x_axis_format=time_format),
    )


def build_monitoring_tab(monitor: Monitor) -> None:
    """The Monitoring tab and its refresh event; call inside `with gr.Blocks():`. The event is the private API
    endpoint `monitoring`."""
    with gr.Tab("Monitoring") as tab:
        gr.Markdown(
            "What the model has predicted here: the label mix and the premises' language mix against the training "
            f"mixes (a drift warning appears when either is more than {monitor.drift_threshold:g} away), latency "
            "percentiles per endpoint, and the share of predictions whose top probability is under "
            f"{monitor.low_confidence:g}. Times are in your time zone. Texts are never shown. Metrics for "
            "Prometheus: `/metrics`."
        )
        with gr.Row():
            period = gr.Dropdown(PERIODS, value=86400, label="Period", scale=3)
            refresh = gr.Button("Refresh", scale=1)
        summary = gr.Markdown()
        share_plot = gr.LinePlot(
            x="time",
            y="share",
            color="series",
            color_map=SERIES_COLORS,
            y_lim=[0, 1],
            x_title=TIME_TITLE,
            x_axis_format=HOURS,
            title="Share of each predicted label (pale: the training mix)",
        )
        language_plot = gr.LinePlot(
            x="language",
            y="share",
            color="series",
            color_map=LANGUAGE_COLORS,
            y_lim=[0, 1],
            title="Share of each premise language: this period against training (detected languages only)",
        )
        latency_plot = gr.LinePlot(
            x="time",
            y="latency_ms",
            color="series",
            x_title=TIME_TITLE,
            x_axis_format=HOURS,
            title="Latency per endpoint (ms; pale: p50, strong: p95)",
        )
        low_plot = gr.LinePlot(
            x="time",
            y="share",
            y_lim=[0, 1],
            x_title=TIME_TITLE,
            x_axis_format=HOURS,
            title="Share of low-confidence predictions",
        )

    def show(period_s: int) -> tuple:
        """The Monitoring tab: summary and drift warnings, label mix, language mix, latency, low-confidence share."""
        return dashboard_outputs(monitor, period_s)

    gr.on(
        [refresh.click, period.change, tab.select],
        show,
        period,
        [summary, share_plot, language_plot, latency_plot, low_plot],
        api_name="monitoring",
        api_visibility="private",
    )
