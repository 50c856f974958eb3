"""What can stop a command, and the exit code each ends with.

Every stage's CLI maps these to one line on stderr and an exit code; the Python API raises them.

| code | meaning |
|---|---|
| 0 | everything asked for is done |
| 1 | the run finished, but some items failed (failed rows with reasons; ``--retry-failed`` redoes them) or some units crashed (run the same command again) |
| 2 | usage: a bad option, a bad input file, settings that differ from the existing database's |
| 3 | environment: the cluster cannot be reached, OUT cannot be written, weights are missing offline |
| 130 | interrupted (Ctrl-C); the next run resumes |
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


class PipelineError(Exception):
    """A problem the user can fix, told in one line."""

    exit_code = EXIT_USAGE


class UsageError(PipelineError):
    """A bad option or input, or settings that differ from the existing database's."""

    exit_code = EXIT_USAGE


class EnvironmentProblem(PipelineError):
    """The machine or cluster cannot do what was asked (unreachable scheduler, unwritable folder, no weights)."""

    exit_code = EXIT_ENVIRONMENT


def one_line(error: BaseException) -> str:
    """``Type: message`` on one line, at most 500 characters: what a failed row records."""
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text}"[:500]
