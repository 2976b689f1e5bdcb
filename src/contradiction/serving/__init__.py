"""The serving stage: the Gradio app (a Hugging Face Space) in front of one predictor.

- `cli`: `python app.py`'s flags, the model, monitoring, then the server;
- `page`: the page, tab by tab (`build_demo`); `handlers`: what its events and API endpoints call;
- `json_api`: the one-step JSON API under /api/v1/ (one POST, one JSON answer), on the same handlers;
- `access`: the optional bearer token in front of the JSON API and the MCP endpoint;
- `limits`: what one request may hold; `scheduler`: one queue in front of the model, single pairs first;
- `lifecycle`: what the page starts (the scheduler's worker, its result folder) and `demo.close()` stops;
- `monitoring`: the prediction database, Prometheus metrics, drift against the training mix, the Monitoring tab.

Imports: `contradiction.inference`, `contradiction.data` and the shared top-level modules; never training.
"""
