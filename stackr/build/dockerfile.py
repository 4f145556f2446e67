"""The Dockerfile parser: text → ``Dockerfile`` (stages of typed instructions).

Pure and eager: every syntax problem is found before anything is built, and each error
names its line (``Dockerfile:7: unknown instruction "RUNN"``). Variables are NOT
expanded here: their values (build args, ENV of the stage so far) are only known while
building, so the builder expands the raw text with ``stackr.build.substitution``, as
Docker does at dispatch time.

Lexical rules follow Docker's (buildkit ``frontend/dockerfile/parser``):

* parser directives (``# syntax=``, ``# escape=``) only at the very top, before any
  comment, blank line or instruction; ``syntax`` is ignored (stackr has one frontend);
* a line ending with the escape character (``\\`` or `````) continues on the next one;
  comment lines and blank lines inside a continuation are skipped;
* keywords are case-insensitive; flags ``--name=value`` come right after the keyword;
* RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME accept a JSON array (exec form);
* heredocs are read for RUN (a script) and COPY/ADD (inline files).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from stackr.build.errors import DockerfileError
from stackr.build.substitution import SubstitutionError, split_words


@dataclass(frozen=True)
class Instruction:
    """One instruction: its first line in the Dockerfile and its text as written
    (continuations joined), which is also its identity in cache keys."""

    line: int
    text: str


@dataclass(frozen=True)
class From(Instruction):
    image: str  # raw: may hold ${ARG}s declared before the first FROM
    stage_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class Run(Instruction):
    command: tuple[str, ...] = ()  # exec form: argv; shell form: one string
    exec_form: bool = False


@dataclass(frozen=True)
class Copy(Instruction):
    """COPY and ADD (``is_add``); sources and dest are raw (variables unexpanded)."""

    sources: tuple[str, ...] = ()
    dest: str = ""
    from_stage: str | None = None
    chown: str | None = None
    chmod: str | None = None
    is_add: bool = False
    # Inline files (``COPY <<EOF /dest``): (file name, body, expand variables in body)
    heredocs: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()  # raw values, quotes kept


@dataclass(frozen=True)
class Arg(Instruction):
    pairs: tuple[tuple[str, str | None], ...] = ()  # default None: ``ARG NAME``


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str = ""


@dataclass(frozen=True)
class User(Instruction):
    user: str = ""


@dataclass(frozen=True)
class Cmd(Instruction):
    command: tuple[str, ...] = ()
    exec_form: bool = False


@dataclass(frozen=True)
class Entrypoint(Instruction):
    command: tuple[str, ...] = ()
    exec_form: bool = False


@dataclass(frozen=True)
class Expose(Instruction):
    ports: tuple[str, ...] = ()  # raw words: "80", "53/udp", "${PORT}"


@dataclass(frozen=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()  # raw keys and values


@dataclass(frozen=True)
class Volume(Instruction):
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stopsignal(Instruction):
    signal: str = ""


@dataclass(frozen=True)
class Healthcheck(Instruction):
    """``test`` None means ``HEALTHCHECK NONE`` (disable the base image's check).
    Durations are nanoseconds, as in the image config."""

    test: tuple[str, ...] | None = None
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    start_interval_ns: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Shell(Instruction):
    shell: tuple[str, ...] = ()


@dataclass(frozen=True)
class Maintainer(Instruction):
    name: str = ""


@dataclass(frozen=True)
class Stage:
    index: int
    base: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str | None:
        return self.base.stage_name


@dataclass(frozen=True)
class Dockerfile:
    path: str  # as shown in messages ("Dockerfile", "docker/web.Dockerfile")
    global_args: tuple[Arg, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]
    escape: str = "\\"
    warnings: tuple[str, ...] = field(default=())

    def stage(self, target: str) -> Stage:
        """The stage named ``target`` (or with that index), for ``--target``."""
        for stage in self.stages:
            if stage.name == target.lower() or str(stage.index) == target:
                return stage
        names = ", ".join(s.name for s in self.stages if s.name) or "none"
        raise DockerfileError(f"target stage {target!r} not found (named stages: {names})",
                              dockerfile=self.path)


@dataclass(frozen=True)
class _Line:
    """A logical line: continuations joined, heredoc bodies attached."""

    number: int
    text: str
    heredocs: tuple[tuple[str, str], ...] = ()  # (marker as written, body)


_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                "m": 60_000_000_000, "h": 3_600_000_000_000}

_ALLOWED_FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link"}),
    "ADD": frozenset({"chown", "chmod", "link"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval",
                              "retries"}),
}
# Flags Docker has that stackr does not implement: refused by name, never ignored.
_UNSUPPORTED_FLAGS: dict[str, frozenset[str]] = {
    "RUN": frozenset({"mount", "network", "security"}),
    "COPY": frozenset({"parents", "exclude"}),
    "ADD": frozenset({"checksum", "keep-git-dir", "exclude"}),
}


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.escape = "\\"
        self.warnings: list[str] = []

    def error(self, line: int, message: str) -> DockerfileError:
        return DockerfileError(message, dockerfile=self.path, line=line)

    # ---- lexing ----------------------------------------------------------------------

    def _directives(self) -> int:
        """Read parser directives at the top; return the index of the first other line."""
        seen: set[str] = set()
        for index, raw in enumerate(self.lines):
            match = _DIRECTIVE.match(raw.strip())
            if not match:
                return index
            name, value = match.group(1).lower(), match.group(2)
            if name not in ("syntax", "escape", "check"):
                return index  # an unknown directive is a comment and ends the directives
            if name in seen:
                raise self.error(index + 1, f"only one {name} parser directive can be used")
            seen.add(name)
            if name == "escape":
                if value not in ("\\", "`"):
                    raise self.error(index + 1, f"invalid escape token {value!r} does not "
                                                "validate: must be ` or \\")
                self.escape = value
        return len(self.lines)

    def logical_lines(self) -> Iterator[_Line]:
        index = self._directives()
        continuation = re.compile(re.escape(self.escape) + r"[ \t]*$")
        while index < len(self.lines):
            start = index
            raw = self.lines[index]
            index += 1
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            parts: list[str] = []
            text = raw
            while True:
                match = continuation.search(text)
                if not match:
                    parts.append(text)
                    break
                parts.append(text[: match.start()])
                # Skip comment and blank lines inside the continuation, as Docker does.
                while index < len(self.lines) and (
                    not self.lines[index].strip() or self.lines[index].lstrip().startswith("#")
                ):
                    index += 1
                if index >= len(self.lines):
                    break
                text = self.lines[index]
                index += 1
            joined = "".join(parts).strip()
            heredocs: list[tuple[str, str]] = []
            keyword = joined.split(None, 1)[0].upper() if joined else ""
            if keyword in ("RUN", "COPY", "ADD"):
                for match in _HEREDOC.finditer(joined):
                    strip_tabs, marker = match.group(1) == "-", match.group(3)
                    body: list[str] = []
                    while True:
                        if index >= len(self.lines):
                            raise self.error(start + 1, f"heredoc <<{marker} is not "
                                                        f"terminated by a line {marker!r}")
                        body_line = self.lines[index]
                        index += 1
                        if strip_tabs:
                            body_line = body_line.lstrip("\t")
                        if body_line == marker:
                            break
                        body.append(body_line + "\n")
                    heredocs.append((match.group(0), "".join(body)))
            yield _Line(start + 1, joined, tuple(heredocs))

    # ---- parsing ---------------------------------------------------------------------

    def parse(self) -> Dockerfile:
        global_args: list[Arg] = []
        stages: list[Stage] = []
        current: From | None = None
        body: list[Instruction] = []
        for line in self.logical_lines():
            instruction = self.instruction(line)
            if isinstance(instruction, From):
                if current is not None:
                    stages.append(Stage(len(stages), current, tuple(body)))
                current, body = instruction, []
            elif current is None:
                if not isinstance(instruction, Arg):
                    raise self.error(line.number, f"{line.text.split()[0].upper()} before "
                                                  "the first FROM: only ARG may come first")
                global_args.append(instruction)
            else:
                body.append(instruction)
        if current is None:
            raise DockerfileError("the Dockerfile has no FROM instruction",
                                  dockerfile=self.path)
        stages.append(Stage(len(stages), current, tuple(body)))
        names = [s.name for s in stages if s.name]
        for stage in stages:
            if stage.name and names.count(stage.name) > 1:
                raise self.error(stage.base.line, f"duplicate stage name {stage.name!r}")
        return Dockerfile(self.path, tuple(global_args), tuple(stages), self.escape,
                          tuple(self.warnings))

    def flags(self, line: int, keyword: str, rest: str) -> tuple[dict[str, str], str]:
        found: dict[str, str] = {}
        while rest.startswith("--"):
            word, _, remainder = rest.partition(" ")
            if not word.strip():
                break
            name, has_value, value = word[2:].partition("=")
            if name in _UNSUPPORTED_FLAGS.get(keyword, frozenset()):
                raise self.error(line, f"{keyword} --{name} is not supported by stackr")
            if name not in _ALLOWED_FLAGS.get(keyword, frozenset()):
                raise self.error(line, f"unknown flag: --{name} for {keyword}")
            if name in found:
                raise self.error(line, f"{keyword} flag --{name} given twice")
            found[name] = value if has_value else "true"
            rest = remainder.lstrip()
        return found, rest

    def json_or_shell(self, line: int, rest: str) -> tuple[tuple[str, ...], bool]:
        """Exec form when the arguments are a JSON array of strings, else shell form."""
        if rest.startswith("["):
            try:
                value = json.loads(rest)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                return tuple(value), True
        return (rest,), False

    def words(self, line: int, rest: str) -> list[str]:
        try:
            return split_words(rest, escape=self.escape)
        except SubstitutionError as error:
            raise self.error(line, str(error)) from None

    def pairs(self, line: int, keyword: str, rest: str) -> tuple[tuple[str, str], ...]:
        """``KEY=VALUE ...``, or the legacy ``KEY VALUE`` (value = the rest of the line)."""
        words = self.words(line, rest)
        if not words:
            raise self.error(line, f"{keyword} requires at least one argument")
        if "=" not in words[0]:
            key, _, value = rest.partition(" ")
            if not value.strip():
                raise self.error(line, f"{keyword} {key} needs a value (or use {key}=VALUE)")
            return ((key, value.strip()),)
        result: list[tuple[str, str]] = []
        for word in words:
            key, has_value, value = word.partition("=")
            if not has_value or not key:
                raise self.error(line, f"{keyword}: {word!r} is not of the form KEY=VALUE "
                                       "(mixing KEY=VALUE and KEY VALUE is not allowed)")
            result.append((key, value))
        return tuple(result)

    def instruction(self, line: _Line) -> Instruction:
        number, text = line.number, line.text
        head, _, rest = text.partition(" ")
        keyword = head.upper()
        rest = rest.strip()
        builder = getattr(self, f"_parse_{keyword.lower()}", None)
        if builder is None or not head.isalpha():
            if keyword == "ONBUILD":
                raise self.error(number, "ONBUILD is not supported by stackr (it only takes "
                                         "effect in images built FROM this one)")
            raise self.error(number, f'unknown instruction "{head}"')
        if keyword != "RUN" and not rest:
            raise self.error(number, f"{keyword} requires at least one argument")
        flags, rest = self.flags(number, keyword, rest)
        result: Instruction = builder(number, text, flags, rest, line.heredocs)
        return result

    def _parse_from(self, n: int, text: str, flags: dict[str, str], rest: str,
                    _h: object) -> From:
        words = rest.split()
        name = None
        if len(words) == 3 and words[1].upper() == "AS":
            name = words[2].lower()
            if not _STAGE_NAME.match(name):
                raise self.error(n, f"invalid stage name {words[2]!r}: use letters, digits, "
                                    "'_', '.', '-', starting with a letter")
        elif len(words) != 1:
            raise self.error(n, "FROM takes one image and an optional AS name "
                                "(FROM image [AS name])")
        platform = flags.get("platform")
        if platform is not None:
            self.warnings.append(f"{self.path}:{n}: FROM --platform={platform} is ignored: "
                                 "stackr builds for the host platform")
        return From(n, text, words[0], name, platform)

    def _parse_run(self, n: int, text: str, flags: dict[str, str], rest: str,
                   heredocs: tuple[tuple[str, str], ...]) -> Run:
        command, exec_form = self.json_or_shell(n, rest)
        if not heredocs:
            if not rest:
                raise self.error(n, "RUN requires at least one argument")
            return Run(n, text, command, exec_form)
        if exec_form:
            raise self.error(n, "heredocs are only supported in the shell form of RUN")
        script = rest
        if len(heredocs) == 1 and rest.strip() == heredocs[0][0]:
            script = heredocs[0][1]  # a lone heredoc is the script itself
        else:
            # Anything else is a shell heredoc the shell itself reads: keep the bodies.
            for marker, body in heredocs:
                word = _HEREDOC.match(marker)
                assert word is not None
                script += "\n" + body + word.group(3)
        return Run(n, text + "\n" + "".join(body for _, body in heredocs), (script,), False)

    def _parse_cmd(self, n: int, text: str, flags: dict[str, str], rest: str,
                   _h: object) -> Cmd:
        command, exec_form = self.json_or_shell(n, rest)
        return Cmd(n, text, command, exec_form)

    def _parse_entrypoint(self, n: int, text: str, flags: dict[str, str], rest: str,
                          _h: object) -> Entrypoint:
        command, exec_form = self.json_or_shell(n, rest)
        return Entrypoint(n, text, command, exec_form)

    def _parse_shell(self, n: int, text: str, flags: dict[str, str], rest: str,
                     _h: object) -> Shell:
        command, exec_form = self.json_or_shell(n, rest)
        if not exec_form or not command:
            raise self.error(n, 'SHELL requires a JSON array, e.g. SHELL ["/bin/sh", "-c"]')
        return Shell(n, text, command)

    def _copy_or_add(self, n: int, text: str, flags: dict[str, str], rest: str,
                     is_add: bool, heredocs: tuple[tuple[str, str], ...]) -> Copy:
        keyword = "ADD" if is_add else "COPY"
        args, exec_form = self.json_or_shell(n, rest)
        words = list(args) if exec_form else self.words(n, rest)
        inline: list[tuple[str, str, bool]] = []
        if heredocs:
            if exec_form:
                raise self.error(n, f"heredocs are only supported in the shell form of "
                                    f"{keyword}")
            bodies = list(heredocs)
            kept: list[str] = []
            for word in words[:-1]:
                match = _HEREDOC.fullmatch(word)
                if match and bodies:
                    _, body = bodies.pop(0)
                    # A quoted delimiter keeps the body literal, as in a shell.
                    inline.append((match.group(3), body, not match.group(2)))
                else:
                    kept.append(word)
            words = [*kept, words[-1]]
            text = text + "\n" + "".join(body for _, body in heredocs)
        if len(words) + len(inline) < 2 or not words:
            raise self.error(n, f"{keyword} requires at least two arguments: "
                                "a source and a destination")
        from_stage = flags.get("from")
        if from_stage is not None and not from_stage:
            raise self.error(n, f"{keyword} --from needs a stage name or an image")
        if inline and from_stage is not None:
            raise self.error(n, f"{keyword} --from cannot be used with heredocs")
        return Copy(n, text, tuple(words[:-1]), words[-1], from_stage, flags.get("chown"),
                    flags.get("chmod"), is_add, tuple(inline))

    def _parse_copy(self, n: int, text: str, flags: dict[str, str], rest: str,
                    heredocs: tuple[tuple[str, str], ...]) -> Copy:
        return self._copy_or_add(n, text, flags, rest, False, heredocs)

    def _parse_add(self, n: int, text: str, flags: dict[str, str], rest: str,
                   heredocs: tuple[tuple[str, str], ...]) -> Copy:
        return self._copy_or_add(n, text, flags, rest, True, heredocs)

    def _parse_env(self, n: int, text: str, flags: dict[str, str], rest: str,
                   _h: object) -> Env:
        pairs = self.pairs(n, "ENV", rest)
        for key, _ in pairs:
            if not _ENV_NAME.match(key):
                raise self.error(n, f"ENV: invalid variable name {key!r}")
        return Env(n, text, pairs)

    def _parse_arg(self, n: int, text: str, flags: dict[str, str], rest: str,
                   _h: object) -> Arg:
        pairs: list[tuple[str, str | None]] = []
        for word in self.words(n, rest):
            key, has_value, value = word.partition("=")
            if not _ENV_NAME.match(key):
                raise self.error(n, f"ARG: invalid name {key!r}")
            pairs.append((key, value if has_value else None))
        return Arg(n, text, tuple(pairs))

    def _parse_label(self, n: int, text: str, flags: dict[str, str], rest: str,
                     _h: object) -> Label:
        return Label(n, text, self.pairs(n, "LABEL", rest))

    def _parse_workdir(self, n: int, text: str, flags: dict[str, str], rest: str,
                       _h: object) -> Workdir:
        return Workdir(n, text, rest)

    def _parse_user(self, n: int, text: str, flags: dict[str, str], rest: str,
                    _h: object) -> User:
        return User(n, text, rest)

    def _parse_expose(self, n: int, text: str, flags: dict[str, str], rest: str,
                      _h: object) -> Expose:
        return Expose(n, text, tuple(self.words(n, rest)))

    def _parse_volume(self, n: int, text: str, flags: dict[str, str], rest: str,
                      _h: object) -> Volume:
        args, exec_form = self.json_or_shell(n, rest)
        return Volume(n, text, tuple(args) if exec_form else tuple(self.words(n, rest)))

    def _parse_stopsignal(self, n: int, text: str, flags: dict[str, str], rest: str,
                          _h: object) -> Stopsignal:
        return Stopsignal(n, text, rest)

    def _parse_maintainer(self, n: int, text: str, flags: dict[str, str], rest: str,
                          _h: object) -> Maintainer:
        self.warnings.append(f"{self.path}:{n}: MAINTAINER is deprecated; use a LABEL")
        return Maintainer(n, text, rest)

    def _duration(self, n: int, flag: str, value: str) -> int:
        total = 0.0
        position = 0
        for match in _DURATION.finditer(value):
            if match.start() != position:
                break
            total += float(match.group(1)) * _DURATION_NS[match.group(2)]
            position = match.end()
        if position != len(value) or not value:
            raise self.error(n, f"HEALTHCHECK --{flag}={value}: not a duration (e.g. 30s, 1m30s)")
        return int(total)

    def _parse_healthcheck(self, n: int, text: str, flags: dict[str, str], rest: str,
                           _h: object) -> Healthcheck:
        words = rest.split(None, 1)
        if not words:
            raise self.error(n, "HEALTHCHECK requires NONE or CMD <command>")
        if words[0].upper() == "NONE":
            if len(words) > 1 or flags:
                raise self.error(n, "HEALTHCHECK NONE takes no arguments or options")
            return Healthcheck(n, text, None)
        if words[0].upper() != "CMD" or len(words) < 2:
            raise self.error(n, "HEALTHCHECK requires NONE or CMD <command>")
        command, exec_form = self.json_or_shell(n, words[1].strip())
        test = ("CMD", *command) if exec_form else ("CMD-SHELL", command[0])
        retries = flags.get("retries", "0")
        if not retries.isdigit():
            raise self.error(n, f"HEALTHCHECK --retries={retries}: not a whole number")
        durations = {
            name: self._duration(n, name, flags[name]) if name in flags else 0
            for name in ("interval", "timeout", "start-period", "start-interval")
        }
        return Healthcheck(n, text, test, durations["interval"], durations["timeout"],
                           durations["start-period"], durations["start-interval"],
                           int(retries))


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text``; ``path`` is how errors name the file."""
    return _Parser(text, path).parse()


def stages_needed(dockerfile: Dockerfile, target: Stage,
                  resolve: Sequence[str] = ()) -> list[Stage]:
    """The stages ``target`` depends on (through ``FROM stage`` and ``COPY --from``),
    in build order, ending with ``target``: unused stages are skipped, as BuildKit does.
    Names are compared raw, before ARG expansion (a ``--from=${X}`` is not followed)."""
    by_name = {s.name: s for s in dockerfile.stages if s.name}
    by_index = {str(s.index): s for s in dockerfile.stages}
    needed: set[int] = set()

    def visit(stage: Stage) -> None:
        if stage.index in needed:
            return
        needed.add(stage.index)
        refs = [stage.base.image.lower()]
        refs += [i.from_stage for i in stage.instructions if isinstance(i, Copy) and i.from_stage]
        for ref in refs:
            other = by_name.get(ref.lower()) or by_index.get(ref)
            if other is not None and other.index < stage.index:
                visit(other)

    visit(target)
    for extra in resolve:
        visit(dockerfile.stage(extra))
    return [s for s in dockerfile.stages if s.index in needed]
