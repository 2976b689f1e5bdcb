"""Multilingual NLI: data preparation, training and serving."""
