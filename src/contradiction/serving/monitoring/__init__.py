"""What the served model does, recorded and watched.

- `store`: every prediction in a local SQLite database (`PredictionLog`);
- `drift`: the training data's label and language mix, and how far the live mix is from it;
- `prometheus`: the metrics `/metrics` exports;
- `monitor`: `Monitor`, which the handlers call once per request, and the figures of the tab;
- `tab`: the Monitoring tab of the page.
"""
