"""The inference stage: a model (local folder or Hub id) turned into probabilities for pairs of texts.

- `loading`: which model, where from, and the one-sentence errors when it cannot be served;
- `model_folder`: what train.py wrote beside the model (record per language, calibration, training mix, recipe
  length), read from a local folder or a Hub repository by one rule;
- `options`: how it runs (`PredictorOptions`: length, batch, precision, threads, engine), the flags of every command
  line that loads a model, and the CPU-thread rule training follows too;
- `native`: BERT-family classifiers in plain torch; `tokenizer`: XLM-R's tokenizer read straight into `tokenizers`;
- `predictor`: `Predictor`, many pairs in, probabilities in our label order out;
- `zero_shot`: texts sorted into a user's own labels (zero-shot classification), one NLI pair per label;
- `sentences`: the sentences of a text with their offsets, in every script (Thai's too);
- `documents`: claims checked against a whole document, read in windows that fit, with a consistency score;
- `tables`, `outputs`: the prediction tables and the chunked, resumable output files;
- `distributed`: a file shared among the processes of `accelerate launch`, written as one process writes it;
- `predict_cli`: `python -m contradiction.predict`; `classify_cli`: `python -m contradiction.classify`.

Imports: `contradiction.data` and the shared top-level modules; never training or serving.

    from contradiction.inference import Predictor
    Predictor.from_pretrained("outputs/model").predict("A man is sleeping.", "Nobody is asleep.")
"""

from contradiction.inference.loading import ModelLoadError
from contradiction.inference.options import PredictorOptions
from contradiction.inference.predictor import Predictor

__all__ = ["ModelLoadError", "Predictor", "PredictorOptions"]
