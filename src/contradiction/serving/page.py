"""The page: one pair, a classification, a document, a CSV file and monitoring in five tabs, read top to bottom.

    demo = build_demo(predictor)        # then cli.launch(demo, ...), or demo.launch() in a notebook; demo.close()

What each button calls is in `handlers.py`; the queue in front of the model in `scheduler.py`, started and stopped
with the page (`lifecycle.py`); the command line (`python app.py`) in `cli.py`. API for scripts (gradio_client):
`/predict` (premise, hypothesis -> label with three confidences), `/predict_batch` (lists -> one {label: prob}
each), `/analyze` (one pair -> a JSON object with the languages seen and the model's record in them) and
`/predict_file` (a competition test CSV -> preview, predictions, submission; cancellable) and `/classify` (text,
labels, template, multi_label -> {"sequence", "labels", "scores"}, as transformers' zero-shot pipeline answers) and
`/check_document` (document, claims -> the overall label and, per claim, its label, probabilities and evidence).
"""

from pathlib import Path

import gradio as gr

from contradiction.inference.predictor import Predictor
from contradiction.inference.zero_shot import DEFAULT_TEMPLATE
from contradiction.labels import LABELS
from contradiction.languages import LanguageDetector, get_detector
from contradiction.serving.handlers import OUTPUT_MAX_AGE_S, PREVIEW_ROWS, Handlers, ModelRecord
from contradiction.serving.lifecycle import App, Runtime, env_default
from contradiction.serving.limits import Limits
from contradiction.serving.monitoring.monitor import Monitor
from contradiction.serving.monitoring.tab import build_monitoring_tab
from contradiction.serving.scheduler import CHUNK_SIZE

PUBLIC_ENDPOINTS = ("predict", "analyze", "predict_batch", "predict_file", "classify", "check_document")
"""The events scripts call by name (gradio_client, MCP); each is counted under its name in /metrics."""

GRADIO_SUMMARY_ENV = "GRADIO_ANALYTICS_CACHE_FREQUENCY"
"""Events between two recomputations of Gradio's dashboard summary (Gradio's default: 1)."""

LABEL_MEANINGS = {
    "entailment": "if the premise is true, the hypothesis is true too.",
    "neutral": "the premise neither confirms nor rules out the hypothesis.",
    "contradiction": "if the premise is true, the hypothesis is false.",
}

# Written for this app: (language, expected label, premise, hypothesis); every label in several languages.
EXAMPLES: list[tuple[str, str, str, str]] = [
    (
        "English",
        "entailment",
        "A woman is reading a newspaper on the morning train.",
        "A woman is on a train.",
    ),
    (
        "French",
        "contradiction",
        "Le musée ferme ses portes à dix-huit heures le dimanche.",
        "Le dimanche, le musée reste ouvert toute la nuit.",
    ),
    (
        "Spanish",
        "neutral",
        "Mi hermana compró una bicicleta roja la semana pasada.",
        "Mi hermana va al trabajo en bicicleta.",
    ),
    (
        "German",
        "contradiction",
        "Der Zug nach Hamburg hatte heute Morgen zwanzig Minuten Verspätung.",
        "Der Zug nach Hamburg kam heute Morgen pünktlich an.",
    ),
    ("Russian", "entailment", "Дети построили во дворе большую снежную крепость.", "Во дворе лежит снег."),
    ("Arabic", "neutral", "اشترى أحمد سيارة جديدة في الشهر الماضي.", "يحب أحمد السفر بالسيارة في العطلات."),
    ("Chinese", "contradiction", "这家面包店每天早上七点开门。", "这家面包店只在晚上营业。"),
    ("Hindi", "entailment", "सीता हर सुबह पार्क में दौड़ने जाती है।", "सीता सुबह व्यायाम करती है।"),
    ("Thai", "neutral", "ร้านกาแฟนี้เพิ่งเปิดเมื่อเดือนที่แล้ว", "ร้านกาแฟนี้ขายขนมเค้กด้วย"),
    (
        "Swahili",
        "contradiction",
        "Mvua kubwa ilinyesha jana usiku katika mji wa Mombasa.",
        "Hakukuwa na mvua Mombasa jana usiku.",
    ),
    ("Vietnamese", "entailment", "Nam đã tốt nghiệp đại học vào năm ngoái.", "Nam từng học đại học."),
    ("Turkish", "neutral", "Ayşe bu sabah otobüsü kaçırdı.", "Ayşe işe geç kaldı."),
]


# Written for this app: (text, labels, template, multi-label); labels in English and in the text's language
CLASSIFY_EXAMPLES: list[tuple[str, str, str, bool]] = [
    ("The new vaccine halved hospital admissions in its first year.", "health, politics, sports, technology",
     DEFAULT_TEMPLATE, False),
    ("Le gouvernement a présenté hier son projet de budget au parlement.", "politique, sport, santé, voyage",
     "Ce texte parle de {}.", False),
    ("El equipo ganó la final en los penaltis tras un partido muy igualado.", "sports, politics, health, travel",
     DEFAULT_TEMPLATE, False),
    ("Unser Flug nach Lissabon wurde wegen eines Sturms um drei Stunden verschoben.",
     "Reisen, Politik, Sport, Gesundheit", "Dieser Text handelt von {}.", False),
    ("这款新手机的电池可以连续使用两天。", "technology, sports, politics, travel", DEFAULT_TEMPLATE, False),
    ("فاز المنتخب الوطني بالمباراة بهدفين مقابل هدف واحد.", "الرياضة, السياسة, الصحة, السفر", "هذا النص عن {}.", False),
    ("The minister promised new money for hospitals and for sports clubs.", "politics, health, sports, travel",
     DEFAULT_TEMPLATE, True),
]  # fmt: skip


# Written for this app: (document, claims); the evidence of each claim is one sentence of the document
DOCUMENT_EXAMPLES: list[tuple[str, str]] = [
    ("Die Bergbahn fährt von Mai bis Oktober. Im Winter fährt die Bahn nicht, weil der Wind auf dem Gipfel zu stark "
     "ist. Eine Fahrt dauert zwölf Minuten. Hunde dürfen mitfahren, wenn sie an der Leine geführt werden.",
     "Im Winter fährt die Bergbahn jeden Tag. Eine Fahrt dauert zwölf Minuten."),
    ("The town library was built in 1932 with money raised by its readers. In 1990 a fire damaged the building, and "
     "the library moved to the old railway station. Today it lends books, music and tools. The reading room is "
     "closed on Mondays. Children under twelve borrow for free.",
     "The reading room is open on Mondays. The library moved after a fire."),
    ("La ciudad celebra su feria en septiembre. Durante una semana, las calles del centro se cierran al tráfico. "
     "Hay conciertos gratuitos cada noche en la plaza mayor. El último día termina con fuegos artificiales sobre "
     "el río.",
     "Los conciertos de la feria son gratuitos."),
]  # fmt: skip


def header(predictor: Predictor, max_chars: int) -> str:
    meanings = "\n".join(f"- **{label}**: {LABEL_MEANINGS[label]}" for label in LABELS)
    name = predictor.name
    model = f"[`{name}`](https://huggingface.co/{name})" if not Path(name).exists() else f"`{name}`"
    return (
        "# Contradiction detector: multilingual natural language inference\n"
        "Does the **hypothesis** follow from the **premise**? Write both in any of the model's languages "
        f"(up to {max_chars:,} characters each). The model answers with one of three labels:\n"
        f"{meanings}\n\n"
        f"Model in use: {model}"
    )


def build_demo(
    predictor: Predictor,
    limits: Limits | None = None,
    monitor: Monitor | None = None,
    max_batch_size: int = 16,
    output_dir: str | Path | None = None,
    record: ModelRecord | None = None,
    chunk_size: int = CHUNK_SIZE,
    detector: LanguageDetector | None = None,
) -> App:
    """The app around `predictor`; serve it with `cli.launch` (which adds the upload limit and `/metrics`), and
    `close()` it: that stops the server, the scheduler's worker thread, and removes the result folder it made.

    Args:
        predictor: the model; every event reaches it through one scheduler, interactive requests first.
        limits: text length, pairs per call, rows and size of an upload.
        monitor: where predictions and errors are recorded (default: metrics only, no database).
        max_batch_size: how many waiting single pairs go through the model together.
        output_dir: where CSV results are written (default: a new folder in the system temp dir, removed at close).
        record: the model's validation record per language (default: read from the model folder).
        chunk_size: pairs per forward pass of bulk work (CSV files, /predict_batch), between single pairs.
        detector: tells the language of each text (default: `languages.get_detector()`, py3langid); another
            detector needs only its `detect` and `detect_many`, answering the competition's codes (`zh`, `en`).
    """
    limits = limits or Limits()
    monitor = monitor or Monitor()
    record = record if record is not None else ModelRecord.read(predictor.name)
    runtime = Runtime(predictor, output_dir, pair_batch_size=max_batch_size, chunk_size=chunk_size)
    try:
        demo = _page(predictor, limits, monitor, max_batch_size, record, runtime, detector or get_detector())
    except BaseException:
        runtime.close()
        raise
    demo.runtime = runtime
    return demo


def _page(
    predictor: Predictor,
    limits: Limits,
    monitor: Monitor,
    max_batch_size: int,
    record: ModelRecord,
    runtime: Runtime,
    detector: LanguageDetector,
) -> App:
    on = Handlers(runtime.scheduler, limits, monitor, detector, record, runtime.outputs_root)
    with App(title="Contradiction detector", delete_cache=(1800, OUTPUT_MAX_AGE_S)) as demo:
        demo.handlers = on
        gr.Markdown(header(predictor, limits.max_chars))
        with gr.Tab("One pair"):
            with gr.Row():
                with gr.Column():
                    premise = gr.Textbox(
                        label="Premise",
                        placeholder="A statement taken as true, e.g. The shop is closed on Sundays.",
                        lines=3,
                        max_length=limits.max_chars,
                    )
                    hypothesis = gr.Textbox(
                        label="Hypothesis",
                        placeholder="A statement to check against it, e.g. The shop opens every day.",
                        lines=2,
                        max_length=limits.max_chars,
                    )
                    with gr.Row():
                        clear = gr.ClearButton(value="Clear", api_name="clear")
                        submit = gr.Button("Submit", variant="primary")
                with gr.Column():
                    label = gr.Label(num_top_classes=len(LABELS), label="Prediction")
                    languages = gr.Markdown(elem_id="languages")
            clear.add([premise, hypothesis, label, languages])
            gr.Examples(
                [[p, h] for _, _, p, h in EXAMPLES],
                inputs=[premise, hypothesis],
                label=f"Examples in {len(EXAMPLES)} languages",
                examples_per_page=len(EXAMPLES),
                cache_examples=False,
                api_name="load_example",
                api_visibility="private",
            )
        with gr.Tab("Classify"):
            gr.Markdown(
                "Sort a text into labels of your own (zero-shot classification): each label fills the template to "
                "make a hypothesis, and the label the model finds best entailed by the text wins. Labels and "
                "template may be in the text's language, though English ones often score better (docs/results.md); "
                f"up to {limits.max_labels} labels."
            )
            with gr.Row():
                with gr.Column():
                    text = gr.Textbox(
                        label="Text",
                        placeholder="e.g. The match ended in a draw after extra time.",
                        lines=3,
                        max_length=limits.max_chars,
                    )
                    candidate_labels = gr.Textbox(
                        label="Labels (comma-separated, or one per line)",
                        placeholder="sports, politics, health",
                        lines=2,
                    )
                    template = gr.Textbox(label="Template ({} is where a label goes)", value=DEFAULT_TEMPLATE)
                    multi_label = gr.Checkbox(
                        label="Several labels can fit (each scored on its own)", value=False
                    )
                    classify = gr.Button("Classify", variant="primary")
                with gr.Column():
                    scores = gr.Label(label="Scores", elem_id="classify-scores")
                    text_languages = gr.Markdown(elem_id="classify-languages")
            gr.Examples(
                [list(example) for example in CLASSIFY_EXAMPLES],
                inputs=[text, candidate_labels, template, multi_label],
                label="Examples",
                examples_per_page=len(CLASSIFY_EXAMPLES),
                cache_examples=False,
                api_name="load_classify_example",
                api_visibility="private",
            )
        with gr.Tab("Document"):
            gr.Markdown(
                "Check claims against a whole document: it is split into sentences and read in overlapping windows "
                "that fit the model, so nothing is cut. Each sentence of the claims is checked on its own; the "
                "sentence of the document that decides it is highlighted (green entailment, red contradiction). "
                f"Up to {limits.max_document_chars:,} characters of document."
            )
            with gr.Row():
                with gr.Column():
                    document = gr.Textbox(
                        label="Document",
                        placeholder="Paste an article, a report or the source of an answer.",
                        lines=8,
                        max_length=limits.max_document_chars,
                    )
                    claims = gr.Textbox(
                        label="Claims (one or more sentences)",
                        placeholder="e.g. The library is closed on Mondays.",
                        lines=2,
                        max_length=limits.max_chars,
                    )
                    check = gr.Button("Check the claims", variant="primary")
                with gr.Column():
                    overall = gr.Label(label="The document says", elem_id="document-label")
                    evidence = gr.HighlightedText(
                        label="Evidence in the document",
                        color_map={"entailment": "green", "contradiction": "red"},
                        combine_adjacent=False,
                        show_legend=True,
                        elem_id="document-evidence",
                    )
            per_claim = gr.Dataframe(
                headers=["claim", "label", *LABELS, "evidence"],
                label="Each claim",
                interactive=False,
                wrap=True,
            )
            reading = gr.Markdown(elem_id="document-reading")
            gr.Examples(
                [list(example) for example in DOCUMENT_EXAMPLES],
                inputs=[document, claims],
                label="Examples",
                examples_per_page=len(DOCUMENT_EXAMPLES),
                cache_examples=False,
                api_name="load_document_example",
                api_visibility="private",
            )
        with gr.Tab("CSV file"):
            gr.Markdown(
                "Upload a test CSV in the competition format (`id,premise,hypothesis,lang_abv,language`), "
                f"up to {limits.max_upload_mb:g} MB and {limits.max_rows:,} rows. "
                f"You get a preview of the first {PREVIEW_ROWS} rows and two files: every row with its label "
                "and three probabilities, and a Kaggle submission (`id,prediction`, "
                + ", ".join(f"{i}={name}" for i, name in enumerate(LABELS))
                + "). Single pairs from other users go first; your file continues between them."
            )
            csv_file = gr.File(label="Test CSV", file_types=[".csv"], type="filepath")
            with gr.Row():
                run_file = gr.Button("Predict the file", variant="primary")
                stop_file = gr.Button("Stop", variant="stop")
            preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True)
            with gr.Row():
                predictions_out = gr.File(label="Predictions with probabilities", interactive=False)
                submission_out = gr.File(label="Kaggle submission", interactive=False)
        build_monitoring_tab(monitor)

        # --- events: every one named, so scripts can call them with gradio_client
        submit.click(
            on.check_pair, [premise, hypothesis], None, api_name="check_pair", api_visibility="private"
        ).success(
            on.predict,
            [premise, hypothesis],
            label,
            api_name="predict",
            concurrency_limit=2 * max_batch_size,  # one batch runs while the next gathers
        ).success(on.describe, [premise, hypothesis, label], languages, api_name="describe", api_visibility="private")
        csv_file.change(
            lambda: (None, None, None),  # results of the previous file must not pass for this one's
            None,
            [preview, predictions_out, submission_out],
            api_name="clear_file_results",
            api_visibility="private",
            queue=False,
        )
        file_job = run_file.click(
            on.predict_file,
            csv_file,
            [preview, predictions_out, submission_out],
            api_name="predict_file",
            concurrency_limit=4,  # files share the model chunk by chunk in the scheduler
        )
        stop_file.click(None, None, None, cancels=[file_job], api_name="stop_file", api_visibility="private")
        classify.click(
            on.check_classification,
            [text, candidate_labels],
            None,
            api_name="check_classification",
            api_visibility="private",
        ).success(
            on.classify_scores,
            [text, candidate_labels, template, multi_label],
            scores,
            api_name="classify_scores",
            api_visibility="private",  # scripts call /classify, which answers in the pipeline's shape
            concurrency_limit=max_batch_size,
        ).success(
            on.describe_classification,
            [text, candidate_labels, template, scores],
            text_languages,
            api_name="describe_classification",
            api_visibility="private",
        )
        check.click(
            on.check_document_input, [document, claims], None, api_name="check_document_input",
            api_visibility="private",
        ).success(
            on.check_document_page,
            [document, claims],
            [overall, evidence, per_claim, reading],
            api_name="check_document_page",
            api_visibility="private",  # scripts call /check_document, which answers JSON
            concurrency_limit=max_batch_size,
        )
        gr.api(on.check_document, api_name="check_document", concurrency_limit=max_batch_size)
        gr.api(on.classify, api_name="classify", concurrency_limit=max_batch_size)
        gr.api(on.predict_batch, api_name="predict_batch", concurrency_limit=4)
        gr.api(on.analyze, api_name="analyze", concurrency_limit=2 * max_batch_size)
        demo.unload(on.close_session)
    # Gradio's queue recomputes the summary of its own /monitoring dashboard (pandas over up to 10,000 past events)
    # after every event: 1.3 ms of CPU per event at first, 5.4 ms after 10,000. cli.launch turns that dashboard
    # off (the Monitoring tab is ours), so the summary need not be recomputed; a value set by the user stays. The
    # queue reads the variable once, here: set only meanwhile, it changes nothing else in the process.
    with env_default(GRADIO_SUMMARY_ENV, str(2**62)):
        demo.queue(max_size=256, default_concurrency_limit=1)
    return demo
