"""Serve the NLI model as a web page and an API (Gradio); details in docs/serving.md.

python app.py --model outputs/model --port 7860    # or MODEL_ID=outputs/model python app.py
"""

from contradiction.cli import run_main
from contradiction.serving.cli import main

if __name__ == "__main__":
    run_main(main)  # loads the model, then blocks in launch()
