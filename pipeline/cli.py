"""What every command line shares: one-line errors with documented exit codes, a clean Ctrl-C, the lock."""

from __future__ import annotations

import fcntl
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.errors import EXIT_ENVIRONMENT, EXIT_INTERRUPTED, EnvironmentProblem, PipelineError, UsageError


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_command(body: Callable[[], int]) -> int:
    """Run a command's body; every known failure ends in one line on stderr and its exit code."""
    try:
        return body()
    except PipelineError as error:
        say(f"error: {error}")
        return error.exit_code
    except KeyboardInterrupt:
        say("interrupted: what was committed is kept; run the same command again to resume")
        return EXIT_INTERRUPTED
    except OSError as error:  # a folder that cannot be written, a full disk, a file that vanished
        where = f"{error.filename}: " if error.filename else ""
        say(f"error: {where}{error.strerror or error} (check the path and its permissions, and free space)")
        return EXIT_ENVIRONMENT


def request_from(cls: type, args: Any, **overrides: Any) -> Any:
    """A request dataclass from parsed arguments of the same names."""
    values = {name: getattr(args, name) for name in cls.__dataclass_fields__ if hasattr(args, name)}
    return cls(**{**values, **overrides})


def run_stage_command(args: Any, run: Callable[[Any, Any], Any], request: Any,
                      summary: Callable[[Any], list[str]]) -> int:
    """The body every stage's command shares: run the request on the chosen cluster, print the summary,
    exit with the report's code (failures one line each, see :func:`run_command`)."""
    from pipeline.driver import Execution

    def body() -> int:
        report = run(request, Execution(workers=args.workers, scheduler=args.scheduler))
        for line in summary(report):
            say(line)
        return report.exit_code

    return run_command(body)


@contextmanager
def database_lock(root: Path) -> Iterator[None]:
    """One writer per subset folder; creating the folder is the first write a run makes."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".lock", "w")
    except OSError as error:
        raise EnvironmentProblem(f"cannot write to {root}: {error.strerror or error}; choose another --out or "
                                 "fix its permissions") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another run is writing {root}; wait for it to finish") from None
        yield
