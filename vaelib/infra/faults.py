"""Faults a user meets, as one plain line: what happened, to which file or address, and what to do.

Every command's `main` is wrapped by `guard`: a known fault prints `error: <line>` on stderr and exits
with its code; Ctrl-C prints what was kept and that the same command resumes; anything else (a bug)
keeps its traceback. `--debug` (or VAELIB_DEBUG=1) shows the traceback of a known fault too.
"""

from __future__ import annotations

import errno
import functools
import os
import sys

BAD_INPUT, STEP_FAILED, FILE_FAULT, UNREACHABLE, INTERRUPTED = 2, 1, 3, 4, 130
EXIT_CODES = (f"exit codes: 0 done, {STEP_FAILED} a step of the pipeline failed or a table of results/ was refused "
              f"(vaelib.analysis.schema: nothing rendered), {BAD_INPUT} bad input (nothing was "
              f"done), {FILE_FAULT} a damaged, missing or unwritable file or a full disk, {UNREACHABLE} the "
              f"scheduler is unreachable, {INTERRUPTED} interrupted (Ctrl-C). --debug (or VAELIB_DEBUG=1) shows "
              f"the traceback of a known fault.")
DEBUG_ENV = "VAELIB_DEBUG"
FULL_DISK = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class Fault(RuntimeError):
    """A known fault: its message is the one line the user reads; `code` is the exit code."""

    code = FILE_FAULT


class DamagedFile(Fault):
    """A file that does not read back as written (truncated, a flipped byte, not ours)."""


class DiskFull(Fault):
    """A write failed for lack of space (ENOSPC), quota or file-size limit (EFBIG); nothing good was replaced."""


class Unreachable(Fault):
    code = UNREACHABLE


class Unwritable(Fault, PermissionError):
    """A folder that cannot be created or written (choose another one)."""


class Refused(Fault):
    """Bad input, refused before any work: nothing was changed."""

    code = BAD_INPUT


class StepFailed(Fault):
    """A step ran and failed (a task of the pipeline, a training that diverged); what was done is kept."""

    code = STEP_FAILED


def disk_full(path, error: OSError, resume: str = "run the same command again") -> DiskFull:
    what = {errno.ENOSPC: "no space left on the device", errno.EFBIG: "the file-size limit was reached",
            errno.EDQUOT: "the disk quota is exceeded"}.get(error.errno, error.strerror)
    return DiskFull(f"{what} while writing {path}; the previous file (if any) is kept as it was. "
                    f"Free some space, then {resume}.")


def guard(main):
    """Wrap a command's main(argv) so that known faults end in one line and an exit code."""
    @functools.wraps(main)
    def wrapped(argv=None):
        argv = list(sys.argv[1:] if argv is None else argv)
        debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
        argv = [a for a in argv if a != "--debug"]
        try:
            return main(argv)
        except KeyboardInterrupt:
            if debug:
                raise
            print("interrupted: every finished run, epoch and metric is kept (written atomically); "
                  "run the same command again to resume", file=sys.stderr)
            return INTERRUPTED
        except Fault as e:
            if debug:
                raise
            print(f"error: {e}", file=sys.stderr)
            return e.code
        except OSError as e:
            if debug or e.errno not in FULL_DISK:
                raise
            print(f"error: {disk_full(e.filename or 'a file', e)}", file=sys.stderr)
            return FILE_FAULT
    return wrapped
