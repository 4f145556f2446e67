"""The errors of a Dockerfile build.

Each names the Dockerfile line it comes from (``Dockerfile:7: ...``), as ``docker build``
does, so a user can go straight to the instruction.
"""

from __future__ import annotations

from stackr.errors import EXIT_STACK_FILE, StackrError


class BuildError(StackrError):
    """A build failed: a RUN exited non-zero, a COPY source is missing, a base image is
    unknown. Exit code 1, like any failed operation."""

    def __init__(self, message: str, *, dockerfile: str = "", line: int = 0) -> None:
        self.dockerfile = dockerfile
        self.line = line
        where = f"{dockerfile}:{line}: " if dockerfile and line else ""
        super().__init__(f"{where}{message}")


class DockerfileError(BuildError):
    """The Dockerfile itself is invalid (syntax, unknown instruction, bad flag)."""

    exit_code = EXIT_STACK_FILE


class RunFailedError(BuildError):
    """A RUN instruction exited non-zero; carries the command, exit code and output tail."""

    def __init__(
        self, *, dockerfile: str, line: int, command: str, exit_code: int, output: str
    ) -> None:
        self.command = command
        self.exit_code_of_command = exit_code
        self.output = output
        tail = "\n".join("  " + text for text in output.rstrip("\n").splitlines())
        message = f"RUN {command} failed with exit code {exit_code}"
        if tail:
            message += f"; its output ended with:\n{tail}"
        super().__init__(message, dockerfile=dockerfile, line=line)
