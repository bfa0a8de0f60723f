"""The entry point: run a command, turn every error into one line and an exit status."""

from __future__ import annotations

import os
import sys
import warnings

from ._args import PROG, UsageError, _split_columns, build_parser
from ._output import Progress

#: the fix a NaN error names on the command line (for the Python calls it names)
_CLI_MISSING = "--missing marginalize"


def _one_line(e):
    if isinstance(e, OSError) and e.strerror and e.filename:
        msg = f"{e.strerror}: {e.filename}"
    else:
        msg = str(e) or type(e).__name__
        if isinstance(e, KeyError):
            msg = f"missing key {msg}"
    if "NaN" in msg or "missing value" in msg:
        # (imported here: the package reads its settings when imported)
        from .._validation import MISSING_FIX
        from ..select import MISSING_FIX as SELECT_FIX

        for fix in (MISSING_FIX, SELECT_FIX):
            msg = msg.replace(fix, _CLI_MISSING)
    return " ".join(msg.split())


def main(argv=None):
    """Run the ``fastem`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments; ``sys.argv[1:]`` by default.

    Returns
    -------
    status : int
        0 on success, 1 for a failed command, 2 for a bad command line, 130 after
        Ctrl-C (a checkpointed fit then resumes when the command is run again), 141 when
        the reader of its output went away (``| head``).
    """
    progress = Progress(False)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        progress.close()  # a warning never lands in the middle of the progress bar
        sys.stderr.write(f"{PROG}: warning: {' '.join(str(message).split())}\n")

    saved = warnings.showwarning
    warnings.showwarning = showwarning
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if hasattr(args, "columns"):
            args.columns = _split_columns(args.columns)
        progress.enabled = sys.stderr.isatty() and not args.json and not args.quiet
        return args.func(args, progress)
    except UsageError as e:
        progress.close()
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 2
    except KeyboardInterrupt as e:
        progress.close()
        sys.stderr.write(f"{PROG}: {e.args[0] if e.args else 'interrupted'}\n")
        return 130
    except BrokenPipeError:
        # the reader of the output went away (``fastem info m.npz | head -1``): stop quietly,
        # as a Unix tool killed by SIGPIPE; stdout to /dev/null keeps the last flush silent
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except ImportError as e:
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    except Exception as e:  # noqa: BLE001 - the command line never shows a traceback
        if os.environ.get("FASTEM_TRACEBACK"):
            raise
        progress.close()
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return 1
    finally:
        progress.close()
        warnings.showwarning = saved
