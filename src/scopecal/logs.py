"""Send a job's log records, warnings and stray prints to its Snakemake log file, and its cause of death to both.

A workflow script calls :func:`log_to` first. From then on everything the job prints goes to its log file, so
the console stays readable with many jobs. An exception that ends the job would then be visible only in the log,
behind Snakemake's ``CalledProcessError ... check log file(s)``; so the full traceback goes to the log and one
line, ``<log path>: <ExceptionType>: <message>``, to the console (the stderr the job started with).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType


def failure_line(path: str | Path, error: BaseException) -> str:
    """One console line naming the job (by its log) and the exception that ended it."""
    message = " ".join(str(error).split()) or "(no message)"
    return f"{path}: {type(error).__name__}: {message}"


def log_to(path: str | Path) -> logging.Logger:
    console = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logging.captureWarnings(True)

    def excepthook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        stream.write("".join(traceback.format_exception(kind, error, tb)))
        stream.flush()
        if not issubclass(kind, KeyboardInterrupt) and console is not None:
            console.write(failure_line(path, error) + "\n")
            console.flush()

    sys.excepthook = excepthook
    return logging.getLogger("scopecal")
