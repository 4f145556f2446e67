from __future__ import annotations

import pytest

from stackr.build.dockerfile import (
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Run,
    Shell,
    User,
    Volume,
    Workdir,
    parse_dockerfile,
    stages_needed,
)
from stackr.build.errors import DockerfileError


def only(text: str):  # type: ignore[no-untyped-def]
    stages = parse_dockerfile("FROM busybox\n" + text).stages
    assert len(stages[0].instructions) == 1
    return stages[0].instructions[0]


def error(text: str) -> str:
    with pytest.raises(DockerfileError) as caught:
        parse_dockerfile(text)
    return str(caught.value)


def test_from_forms() -> None:
    parsed = parse_dockerfile("from busybox:1.36 as Build\nFROM scratch\nFROM build\n")
    assert [s.base.image for s in parsed.stages] == ["busybox:1.36", "scratch", "build"]
    assert parsed.stages[0].name == "build"  # stage names are case-insensitive
    assert parsed.stage("build").index == 0 and parsed.stage("1").index == 1


def test_from_platform_is_ignored_with_a_warning() -> None:
    parsed = parse_dockerfile("FROM --platform=linux/arm64 busybox\n")
    assert parsed.stages[0].base.platform == "linux/arm64"
    assert parsed.warnings == ("Dockerfile:1: FROM --platform=linux/arm64 is ignored: "
                               "stackr builds for the host platform",)


def test_arg_before_from_is_global() -> None:
    parsed = parse_dockerfile("ARG V=1 W\nFROM busybox:${V}\nARG V\n")
    assert parsed.global_args[0].pairs == (("V", "1"), ("W", None))
    assert parsed.stages[0].instructions == (Arg(3, "ARG V", (("V", None),)),)


def test_run_shell_and_exec_forms() -> None:
    assert only("RUN echo $HOME").command == ("echo $HOME",)
    run = only('RUN ["echo", "a b"]')
    assert isinstance(run, Run) and run.exec_form and run.command == ("echo", "a b")
    # Not valid JSON → shell form, as Docker does.
    assert only("RUN [ -f x ] && echo").command == ("[ -f x ] && echo",)


def test_line_continuations_skip_comments_and_blank_lines() -> None:
    run = only("RUN apk add \\\n    # a comment\n\n    curl \\\n    git\n")
    assert run.command == ("apk add     curl     git",)
    assert run.line == 2


def test_escape_directive_and_syntax_directive() -> None:
    parsed = parse_dockerfile("# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\n"
                              "RUN echo a `\n  b\nCOPY C:\\src C:\\dst\n")
    assert parsed.escape == "`"
    run, copy = parsed.stages[0].instructions
    assert run.command == ("echo a   b",)
    assert isinstance(copy, Copy) and copy.sources == ("C:\\src",)


def test_directive_after_a_comment_is_a_comment() -> None:
    parsed = parse_dockerfile("# hello\n# escape=`\nFROM busybox\nRUN a \\\n b\n")
    assert parsed.escape == "\\"
    assert parsed.stages[0].instructions[0].command == ("a  b",)  # type: ignore[attr-defined]


def test_copy_and_add_flags() -> None:
    copy = only("COPY --from=build --chown=app:app --chmod=755 a b* /dst/")
    assert copy == Copy(2, copy.text, ("a", "b*"), "/dst/", "build", "app:app", "755", False)
    add = only('ADD ["x y", "/z"]')
    assert isinstance(add, Copy) and add.is_add and add.sources == ("x y",) and add.dest == "/z"
    assert "ADD --checksum is not supported" in error("FROM a\nADD --checksum=x a b\n")
    assert 'unknown flag: --frm for COPY' in error("FROM a\nCOPY --frm=x a b\n")
    assert "at least two arguments" in error("FROM a\nCOPY a\n")


def test_env_forms() -> None:
    assert only('ENV A=1 B="x y" C=$A').pairs == (("A", "1"), ("B", '"x y"'), ("C", "$A"))
    assert only("ENV LEGACY some value").pairs == (("LEGACY", "some value"),)
    assert "needs a value" in error("FROM a\nENV ALONE\n")
    assert "mixing" in error("FROM a\nENV A=1 B\n")


def test_metadata_instructions() -> None:
    assert only("WORKDIR /app") == Workdir(2, "WORKDIR /app", "/app")
    assert only("USER app:app") == User(2, "USER app:app", "app:app")
    assert only('CMD ["a"]') == Cmd(2, 'CMD ["a"]', ("a",), True)
    assert only("ENTRYPOINT exec app") == Entrypoint(2, "ENTRYPOINT exec app", ("exec app",))
    assert only("EXPOSE 80 53/udp").ports == ("80", "53/udp")  # type: ignore[attr-defined]
    assert only('LABEL "a b"=c d=e').pairs == (('"a b"', "c"), ("d", "e"))  # type: ignore
    assert only('VOLUME ["/a", "/b"]') == Volume(2, 'VOLUME ["/a", "/b"]', ("/a", "/b"))
    assert only("VOLUME /a /b").paths == ("/a", "/b")  # type: ignore[attr-defined]
    assert only('SHELL ["/bin/bash", "-c"]') == Shell(2, 'SHELL ["/bin/bash", "-c"]',
                                                      ("/bin/bash", "-c"))
    assert isinstance(only("LABEL a=b"), Label) and isinstance(only("EXPOSE 1"), Expose)
    assert isinstance(only("ENV a=b"), Env)


def test_healthcheck() -> None:
    check = only("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD wget -q x")
    assert check == Healthcheck(2, check.text, ("CMD-SHELL", "wget -q x"), 90_000_000_000,
                                500_000_000, 0, 0, 3)
    assert only('HEALTHCHECK CMD ["true"]').test == ("CMD", "true")  # type: ignore
    assert only("HEALTHCHECK NONE").test is None  # type: ignore[attr-defined]
    assert "not a duration" in error("FROM a\nHEALTHCHECK --interval=soon CMD x\n")
    assert "NONE or CMD" in error("FROM a\nHEALTHCHECK true\n")


def test_heredoc_run() -> None:
    run = only("RUN <<EOF\nset -e\necho hi\nEOF\n")
    assert run.command == ("set -e\necho hi\n",)
    run = only("RUN cat > /f <<-END\n\tindented\n\tEND\n")
    assert run.command == ("cat > /f <<-END\nindented\nEND",)
    assert "not terminated" in error("FROM a\nRUN <<EOF\nno end\n")
    copy = only("COPY <<EOF <<'RAW' /etc/\n$HOME\nEOF\n$HOME\nRAW\n")
    assert isinstance(copy, Copy) and copy.sources == () and copy.dest == "/etc/"
    assert copy.heredocs == (("EOF", "$HOME\n", True), ("RAW", "$HOME\n", False))
    assert "cannot be used with heredocs" in error("FROM a\nCOPY --from=x <<EOF /x\nEOF\n")


def test_errors_name_the_line() -> None:
    assert error("FROM a\n\n# c\nRUNN make\n") == 'Dockerfile:4: unknown instruction "RUNN"'
    assert error("FROM a\nONBUILD RUN x\n").startswith("Dockerfile:2: ONBUILD is not supported")
    assert error("RUN x\n") == ("Dockerfile:1: RUN before the first FROM: only ARG may "
                                "come first")
    assert error("# only a comment\n") == "the Dockerfile has no FROM instruction"
    assert "duplicate stage name" in error("FROM a AS x\nFROM b AS x\n")
    assert "RUN --mount is not supported" in error("FROM a\nRUN --mount=type=cache,target=/x y\n")
    assert "FROM takes one image" in error("FROM a b\n")
    assert "requires at least one argument" in error("FROM a\nWORKDIR\n")
    assert "SHELL requires a JSON array" in error("FROM a\nSHELL /bin/bash\n")
    assert "invalid escape token" in error("# escape=x\nFROM a\n")


def test_stages_needed_follows_from_and_copy_from() -> None:
    parsed = parse_dockerfile("FROM a AS base\nFROM b AS tools\nFROM base AS build\n"
                              "COPY --from=tools /x /x\nFROM c AS other\nFROM scratch\n"
                              "COPY --from=build /y /y\n")
    needed = stages_needed(parsed, parsed.stages[-1])
    assert [s.index for s in needed] == [0, 1, 2, 4]
