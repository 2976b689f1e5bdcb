# The NLI app (app.py) for a Hugging Face Docker Space or any container host; details in docs/serving.md.
#   docker build -t contradiction .
#   docker run -p 7860:7860 -e MODEL_ID=MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7 contradiction
FROM python:3.11-slim

# CPU wheels of torch: the PyPI default for Linux is a multi-GB CUDA build (pass another index for a GPU host)
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    CONTRADICTION_HOME=/home/user/data

# Spaces run the container as uid 1000; owning $HOME lets the model cache be written at run time
RUN useradd --create-home --uid 1000 user \
    && mkdir -p /home/user/data && chown user:user /home/user/data   # the monitoring database lives here
WORKDIR /home/user/app

# Dependencies in their own layer, rebuilt only when requirements.txt or pyproject.toml changes: requirements.txt's
# pins without its last line (`-e .` needs the source), and the dependencies pyproject.toml declares. The package
# itself is installed on its own below.
COPY requirements.txt pyproject.toml ./
RUN grep -vE '^\s*-e\s' requirements.txt > /tmp/requirements-deps.txt \
    && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        >> /tmp/requirements-deps.txt \
    && pip install --extra-index-url "$TORCH_INDEX" -r /tmp/requirements-deps.txt \
    && rm /tmp/requirements-deps.txt

# The package itself (no dependencies: they are above), then the thin entry point; src/contradiction/sample links
# to data/sample, whose files the package holds as its own
COPY README.md ./
COPY data/sample ./data/sample
COPY src ./src
RUN pip install --no-deps . && rm -rf build src/*.egg-info
COPY --chown=user app.py ./

USER user

# Optional: bake a Hub model into the image so the container starts without downloading it
#   docker build --build-arg PRELOAD_MODEL=MoritzLaurer/mDeBERTa-v3-base-xnli-multilingual-nli-2mil7 ...
ARG PRELOAD_MODEL=""
RUN if [ -n "$PRELOAD_MODEL" ]; then \
        python -c "import sys; from contradiction.inference import Predictor; Predictor.from_pretrained(sys.argv[1])" \
            "$PRELOAD_MODEL"; \
    fi

EXPOSE 7860
# the first start may download the model (about 1 GB): give it time before counting failures
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:7860/', timeout=5)" || exit 1

CMD ["python", "app.py"]
