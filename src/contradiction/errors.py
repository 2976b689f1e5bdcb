"""The error a user can cause: its message is one sentence naming the input and the fix."""


class UserError(Exception):
    """Bad input from a user (a file, a flag, a model path); shown as one sentence, never a traceback."""
