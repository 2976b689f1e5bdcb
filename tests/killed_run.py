"""A predict run killed between writing a chunk and recording it, for the tests of `--resume`.

Once `N` chunks are recorded in the progress file, the next one is appended to the outputs and the process sends
itself SIGKILL before recording it: no clean-up, as when a machine is lost.

    python tests/killed_run.py N --model M --input F --output O ...   # the flags of `python -m contradiction.predict`
    python tests/killed_run.py N --module contradiction.classify --model M ...   # another command line of outputs
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

from contradiction.inference.outputs import ChunkedOutputs


def die_after(chunks: int) -> None:
    """Make `ChunkedOutputs` kill the process when it is about to record chunk `chunks + 1`."""
    record = ChunkedOutputs._record

    def record_or_die(self: ChunkedOutputs) -> None:
        if self.chunks_done > chunks:  # written and fsynced by `append`, not yet in the progress file
            os.kill(os.getpid(), signal.SIGKILL)
        record(self)

    ChunkedOutputs._record = record_or_die


if __name__ == "__main__":
    die_after(int(sys.argv[1]))
    module, flags = "contradiction.predict", sys.argv[2:]
    if flags[0] == "--module":
        module, flags = flags[1], flags[2:]
    sys.argv = [module, *flags]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
