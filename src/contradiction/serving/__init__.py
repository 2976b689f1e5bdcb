"""The serving stage: the Gradio app (a Hugging Face Space) in front of one predictor, one module a feature.

Features, each with its handlers, its page tab and its JSON route:
- `pairs`: one pair and lists of pairs (`/predict`, `/analyze`, `/predict_batch`, `POST /api/v1/nli`);
- `classification`: zero-shot classification (`/classify`, `POST /api/v1/classify`);
- `documents`: claims checked against a document (`/check_document`, `POST /api/v1/check_document`);
- `files`: a whole CSV file (`/predict_file`);
- `monitoring`: the prediction database, Prometheus metrics, drift, and the Monitoring tab (`monitoring/tab.py`).

What they share and how they are served:
- `common`: what every handler is given (`Context`), its refusal, its checks of a text and its one model call;
- `notes`: the lines under an answer about its languages and the model's record in them;
- `api`: the JSON API, a FastAPI app built from the features' `JsonRoute`s, mounted under /api/v1/;
- `page`: the page, tab by tab (`build_demo`); `server`: `launch`, the page with /metrics, the JSON API, MCP and
  the access token (`access`); `cli`: `python app.py`'s flags;
- `access`: one rule for every route with a token set (the bearer header, or the cookie of the page's access form);
- `limits`: what one request may hold; `bounds`: the middleware that holds every request to them (body size, one
  file per upload, requests per client and route, JSON that can be read); `scheduler`: one bounded queue in front of
  the model, single pairs first;
- `lifecycle`: what the page starts (the scheduler's worker, its result folder) and `demo.close()` stops, and the
  check of every event's text boxes against their limits.

Names, the same in every feature: its handlers are a class named for it (`Pairs`, `Classification`, `Documents`,
`Files`) built on a `Context`. A method named as an endpoint (`predict`, `classify`, `check_document`, ...) is
that endpoint for gradio_client and MCP, and its docstring is the tool's description; `run` (and `run_many`) is the
checked model call that every door of the feature goes through (page, gradio_client, MCP, JSON), recording under
the endpoint name it is given; `page_*` methods serve only the page's own events (`page_require` warns of an
empty box, `page_notes` writes the lines under an answer). `build_<feature>_tab` lays out the tab and wires its
events; `<route>_route` returns the feature's JSON route, whose bodies are the pydantic models beside it.

Imports: `contradiction.inference`, `contradiction.data` and the shared top-level modules; never training.
"""
