"""One error base class for the project, and the exit codes of every entry point.

Exit codes (``predict.py``, ``eval.py``, ``train_*.py``, ``tools``, ``benchmarks``):

    0    success
    1    runtime failure (a non-finite loss, an export that Paddle could not write, ...)
    2    usage or bad input (a missing file, a corrupt checkpoint, a bad option or config key)
    130  interrupted (Ctrl-C or SIGTERM); whatever a run had saved is kept

Every project exception derives from :class:`BGMv2Error`; ``exit_code`` says which of the codes
above it means. Entry points run their ``main`` through :func:`run_main`, which prints one line
``PROG: error: MESSAGE`` instead of a traceback.
"""
import contextlib
import signal
import sys
import threading

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED", "BGMv2Error", "InputError",
           "Interrupted", "user_error", "sigterm_as_interrupt", "run_main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class BGMv2Error(Exception):
    """A problem reported to the user as one line; ``exit_code`` is EXIT_USAGE unless a subclass says otherwise."""
    exit_code = EXIT_USAGE


class InputError(BGMv2Error, ValueError):
    """Bad input: a file, folder, option or key that the message names."""


class Interrupted(BGMv2Error):
    """The run was stopped by Ctrl-C or SIGTERM (what it had saved is kept)."""
    exit_code = EXIT_INTERRUPTED


# Errors from the standard library that are the user's input, not our bug: a missing or unreadable
# path, or a value the message names.
_INPUT_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError,
                 ValueError)


def user_error(error):
    """(exit code, one-line message) of an error that is the user's to fix or an interruption; None for a bug."""
    if isinstance(error, Interrupted):
        return error.exit_code, str(error)
    if isinstance(error, BGMv2Error):
        return error.exit_code, f"error: {error}"
    if isinstance(error, _INPUT_ERRORS):
        return EXIT_USAGE, f"error: {error}"
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    return None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block SIGTERM raises KeyboardInterrupt like Ctrl-C, so that the same cleanup runs
    (staging folders, temporary files) instead of Python dying on the spot. Main thread only
    (elsewhere signals cannot be handled); the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_main(prog, main, argv=None):
    """Run ``main(argv)`` and return its exit code; errors become ``PROG: error: MESSAGE`` on stderr.

    ``main`` returns None or an int. A BGMv2Error exits with its ``exit_code``; the standard
    library's input errors (missing file, bad value) with EXIT_USAGE; KeyboardInterrupt, and
    SIGTERM (``sigterm_as_interrupt``), with EXIT_INTERRUPTED. Other exceptions are bugs and keep
    their traceback.
    """
    try:
        with sigterm_as_interrupt():
            code = main(argv)
    except (Exception, KeyboardInterrupt) as e:
        failure = user_error(e)
        if failure is None:
            raise
        print(f"{prog}: {failure[1]}", file=sys.stderr)
        return failure[0]
    return EXIT_OK if code is None else int(code)
