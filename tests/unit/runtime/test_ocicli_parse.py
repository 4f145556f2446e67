"""``stackr runtime``'s argparse-free command line reads what argparse reads, or defers."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stackr.runtime import ocicli

FAST = [
    ["run", "c1"],
    ["--root", "/tmp/s", "run", "--bundle", "/b", "c1"],
    ["--root=/tmp/s", "run", "-b", "/b", "--pid-file", "/p", "c1"],
    ["--log", "/l", "--log-format", "json", "--systemd-cgroup", "create", "c1", "--bundle=/b"],
    ["create", "--console-socket", "/sock", "--no-pivot", "--no-new-keyring", "c1"],
    ["--criu", "x", "start", "c1"],
    ["state", "c1"],
    ["kill", "c1"],
    ["kill", "c1", "KILL"],
    ["kill", "--all", "c1", "9"],
    ["kill", "-a", "c1", "USR1"],
    ["delete", "c1"],
    ["delete", "-f", "c1"],
    ["delete", "c1", "--force"],
    ["list"],
]

DEFERRED = [
    [],
    ["--help"],
    ["run", "--help"],
    ["run"],  # no id
    ["run", "a", "b"],  # one id too many
    ["--root"],
    ["--root", "run", "c1"],  # the value is missing
    ["--bogus", "run", "c1"],
    ["frobnicate", "c1"],
    ["run", "--bund", "/b", "c1"],  # argparse's abbreviation
    ["run", "--bundle"],
    ["run", "--bundle", "--pid-file", "/p", "c1"],
    ["kill", "c1", "-9"],
    ["kill", "c1", "-a", "USR1"],  # argparse takes USR1 for an extra argument
    ["delete", "-fa", "c1"],
    ["start", "--", "c1"],
    ["list", "extra"],
]


def argparse_result(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="stackr runtime")
    ocicli.configure(parser)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", FAST, ids=" ".join)
def test_fast_parse_agrees_with_argparse(argv: list[str]) -> None:
    fast = ocicli.parse_fast(argv)
    assert fast is not None
    expected = argparse_result(argv)
    # argparse leaves out the options of verbs not given; the fast parser too
    assert vars(fast) == expected


@pytest.mark.parametrize("argv", DEFERRED, ids=" ".join)
def test_what_it_does_not_understand_goes_to_argparse(argv: list[str]) -> None:
    assert ocicli.parse_fast(argv) is None


def test_help_and_mistakes_still_come_from_argparse() -> None:
    command = [sys.executable, "-m", "stackr.runtime.ocicli"]
    usage = subprocess.run([*command, "run"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert "the following arguments are required: container_id" in usage.stderr
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "create" in helped.stdout
