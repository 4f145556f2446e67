"""Build an image from a Dockerfile, stage by stage, with the layer cache.

The builder owns the semantics: ARG/ENV scoping and substitution, WORKDIR/USER/SHELL
state, which instructions make a layer (RUN, COPY, ADD) and which only change the image
config, the cache keys, multi-stage ``COPY --from``. It asks a ``BuildBackend`` only to
act (resolve a base image, run a command, store a layer, store the image), so a fake
backend can test all of it without root.

A step whose key is in the cache is not run: the cached layer is reused, and a build in
which every step hits opens no container and copies no file (it reads the COPY sources
to hash them). A miss re-runs that step and, since the next steps' parent layers change,
everything after it.
"""

from __future__ import annotations

import copy
import os
import platform
import posixpath
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stackr.build.backend import BaseImage, BuildBackend, RunSpec
from stackr.build.cache import BuildCache, CacheEntry, step_key
from stackr.build.context import (
    Selected,
    SourceError,
    SourceTree,
    file_digests_for,
    has_wildcard,
    resolve_in_root,
)
from stackr.build.copier import (
    CopyRequest,
    copy_sources,
    make_dirs,
    parse_chmod,
    resolve_user,
)
from stackr.build.dockerfile import (
    Arg,
    Cmd,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Run,
    Shell,
    Stage,
    Stopsignal,
    User,
    Volume,
    Workdir,
    parse_dockerfile,
    stages_needed,
)
from stackr.build.errors import BuildError, RunFailedError
from stackr.build.ignore import load_ignore
from stackr.build.substitution import (
    SubstitutionError,
    expand_variables,
    expand_word,
    expand_words,
)
from stackr.errors import StackrError
from stackr.naming import built_image_name

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_TAIL_LINES = 20
# Build args Docker passes to RUN without an ARG instruction, and keeps out of the cache.
PROXY_ARGS = frozenset(name for base in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY",
                                         "NO_PROXY", "ALL_PROXY")
                       for name in (base, base.lower()))
_PORT = re.compile(r"^\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?$")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def host_architecture() -> str:
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def _predefined_args() -> dict[str, str]:
    """BuildKit's automatic platform args, usable after ``ARG TARGETARCH`` etc."""
    arch = host_architecture()
    values = {"PLATFORM": f"linux/{arch}", "OS": "linux", "ARCH": arch, "VARIANT": ""}
    result: dict[str, str] = {}
    for prefix in ("TARGET", "BUILD"):
        for name, value in values.items():
            result[prefix + name] = value
    return result


# Where RUN steps run: a private bridge per build ("default"), the host's network, or
# none (only loopback), as ``docker build --network`` and Compose's ``build.network``.
BUILD_NETWORKS = ("default", "host", "none")


@dataclass(frozen=True)
class BuildOptions:
    """One build, as ``stackr build`` or a Compose ``build:`` section asks for it."""

    context: Path
    dockerfile: str = "Dockerfile"  # relative to the context, or absolute
    dockerfile_inline: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    pull: bool = False
    tags: tuple[str, ...] = ()
    network: str = "default"  # one of BUILD_NETWORKS
    # RUN's containers (not in the cache key, as Docker's): see RunSpec
    shm_size: int | None = None
    extra_hosts: tuple[tuple[str, str], ...] = ()
    ulimits: tuple[tuple[str, int, int], ...] = ()
    privileged: bool = False


@dataclass(frozen=True)
class StepReport:
    stage: int
    line: int
    text: str
    cached: bool | None  # None: a metadata instruction (no layer, nothing to cache)
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    names: tuple[str, ...]
    config: Mapping[str, Any]
    steps: tuple[StepReport, ...]
    warnings: tuple[str, ...]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.config["rootfs"]["diff_ids"])

    @property
    def cached_steps(self) -> int:
        return sum(1 for step in self.steps if step.cached)

    @property
    def layer_steps(self) -> int:
        return sum(1 for step in self.steps if step.cached is not None)


Progress = Callable[[StepReport], None]


@dataclass
class _StageState:
    layers: list[str]
    config: dict[str, Any]  # the image config's "config" object
    history: list[dict[str, Any]]
    author: str | None = None
    args: dict[str, str] = field(default_factory=dict)  # declared ARGs with a value
    cmd_set: bool = False

    def env(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            result[key] = value
        return result

    def set_env(self, env: Mapping[str, str]) -> None:
        self.config["Env"] = [f"{key}={value}" for key, value in env.items()]

    def substitution_env(self) -> dict[str, str]:
        """What ``$VAR`` sees: the declared ARGs, overridden by ENV."""
        return {**self.args, **self.env()}

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def workdir(self) -> str:
        return str(self.config.get("WorkingDir") or "/")


def _tail(output: str) -> str:
    return "\n".join(output.rstrip("\n").splitlines()[-OUTPUT_TAIL_LINES:])


class Builder:
    def __init__(self, options: BuildOptions, backend: BuildBackend, *,
                 progress: Progress | None = None, cache: BuildCache | None = None) -> None:
        self.options = options
        self.backend = backend
        self.progress = progress
        self.cache = cache or BuildCache()
        self.steps: list[StepReport] = []
        self.warnings: list[str] = []
        self.used_args: set[str] = set()
        self.dockerfile = self._load_dockerfile()
        self.tree = SourceTree(options.context.resolve(),
                               load_ignore(options.context, self._dockerfile_path()),
                               digests=file_digests_for(options.context,
                                                        self.cache.directory))
        self.states: dict[int, _StageState] = {}
        self.global_args: dict[str, str] = {}

    # ---- inputs --------------------------------------------------------------------

    def _dockerfile_path(self) -> Path | None:
        if self.options.dockerfile_inline is not None:
            return None
        path = Path(self.options.dockerfile)
        return path if path.is_absolute() else self.options.context / path

    def _load_dockerfile(self) -> Dockerfile:
        if not self.options.context.is_dir():
            raise BuildError(f"build context {str(self.options.context)!r} is not a directory")
        if self.options.dockerfile_inline is not None:
            return parse_dockerfile(self.options.dockerfile_inline, "Dockerfile (inline)")
        path = self._dockerfile_path()
        assert path is not None
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise BuildError(f"Dockerfile {str(path)!r} not found") from None
        except OSError as error:
            raise BuildError(f"cannot read Dockerfile {str(path)!r}: {error.strerror}") from None
        return parse_dockerfile(text, self.options.dockerfile)

    def fail(self, instruction: Instruction, message: str) -> BuildError:
        return BuildError(message, dockerfile=self.dockerfile.path, line=instruction.line)

    def expand(self, instruction: Instruction, text: str, env: Mapping[str, str]) -> str:
        try:
            return expand_word(text, env, escape=self.dockerfile.escape)
        except SubstitutionError as error:
            raise self.fail(instruction, str(error)) from None

    def expand_list(self, instruction: Instruction, text: str,
                    env: Mapping[str, str]) -> list[str]:
        try:
            return expand_words(text, env, escape=self.dockerfile.escape)
        except SubstitutionError as error:
            raise self.fail(instruction, str(error)) from None

    def report(self, stage: Stage, instruction: Instruction, cached: bool | None,
               started: float) -> None:
        step = StepReport(stage.index, instruction.line, instruction.text, cached,
                          time.monotonic() - started)
        self.steps.append(step)
        if self.progress is not None:
            self.progress(step)

    # ---- the build -----------------------------------------------------------------

    def build(self) -> BuildResult:
        try:
            return self._build()
        finally:
            self.tree.digests.save()

    def _build(self) -> BuildResult:
        self.warnings.extend(self.dockerfile.warnings)
        self._global_args()
        target = (self.dockerfile.stage(self.options.target) if self.options.target
                  else self.dockerfile.stages[-1])
        for stage in stages_needed(self.dockerfile, target):
            self.states[stage.index] = self._build_stage(stage)
        state = self.states[target.index]
        config = copy.deepcopy(state.config)
        if self.options.labels:
            config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
        document: dict[str, Any] = {
            "architecture": host_architecture(),
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": list(state.layers)},
            "history": state.history,
        }
        if state.author:
            document["author"] = state.author
        unused = sorted(set(self.options.args) - self.used_args)
        if unused:
            self.warnings.append(f"build args not consumed by the Dockerfile: "
                                 f"{', '.join(unused)}")
        image_id = self.backend.save_image(document, self.options.tags)
        return BuildResult(image_id, self.options.tags, document, tuple(self.steps),
                           tuple(self.warnings))

    def _global_args(self) -> None:
        for instruction in self.dockerfile.global_args:
            for name, default in instruction.pairs:
                if name in self.options.args:
                    self.global_args[name] = self.options.args[name]
                    self.used_args.add(name)
                elif default is not None:
                    self.global_args[name] = self.expand(instruction, default,
                                                         {**_predefined_args(),
                                                          **self.global_args})
                elif name in _predefined_args():
                    self.global_args[name] = _predefined_args()[name]

    def _stage_by_ref(self, ref: str) -> _StageState | None:
        for stage in self.dockerfile.stages:
            if stage.index in self.states and (stage.name == ref.lower()
                                               or str(stage.index) == ref):
                return self.states[stage.index]
        return None

    def _start(self, stage: Stage) -> _StageState:
        base = stage.base
        reference = self.expand(base, base.image, {**_predefined_args(), **self.global_args})
        if not reference:
            raise self.fail(base, f"FROM {base.image}: the image name is empty after "
                                  "substitution (is the ARG set?)")
        parent = self._stage_by_ref(reference)
        if parent is not None:
            return _StageState(list(parent.layers), copy.deepcopy(parent.config),
                               copy.deepcopy(parent.history), parent.author)
        if reference == "scratch":
            return _StageState([], {}, [])
        image = self._image(base, reference)
        document = image.config
        if (document.get("config") or {}).get("OnBuild"):
            raise self.fail(base, f"base image {reference} has ONBUILD triggers, which "
                                  "stackr does not run (build from an image without them)")
        return _StageState(list(image.layers), copy.deepcopy(dict(document.get("config") or {})),
                           copy.deepcopy(list(document.get("history") or [])),
                           document.get("author"))

    def _image(self, instruction: Instruction, reference: str) -> BaseImage:
        try:
            return self.backend.base_image(reference, pull=self.options.pull)
        except BuildError:
            raise
        except Exception as error:
            # The store's own errors name the image; add the line that asked for it.
            raise self.fail(instruction, str(error)) from error

    def _build_stage(self, stage: Stage) -> _StageState:
        started = time.monotonic()
        state = self._start(stage)
        self.report(stage, stage.base, None, started)
        for instruction in stage.instructions:
            started = time.monotonic()
            cached = self._apply(stage, state, instruction)
            self.report(stage, instruction, cached, started)
        return state

    def _apply(self, stage: Stage, state: _StageState, instruction: Instruction) -> bool | None:
        """Apply one instruction; returns whether its layer came from the cache, or None
        for a metadata instruction."""
        env = state.substitution_env()
        config = state.config
        if isinstance(instruction, Run):
            return self._run(state, instruction)
        if isinstance(instruction, Copy):
            return self._copy(state, instruction)
        if isinstance(instruction, Arg):
            self._arg(state, instruction)
        elif isinstance(instruction, Env):
            values = state.env()
            for key, raw in instruction.pairs:
                values[key] = self.expand(instruction, raw, env)
            state.set_env(values)
        elif isinstance(instruction, Label):
            labels = dict(config.get("Labels") or {})
            for key, raw in instruction.pairs:
                labels[self.expand(instruction, key, env)] = self.expand(instruction, raw, env)
            config["Labels"] = labels
        elif isinstance(instruction, Workdir):
            path = self.expand(instruction, instruction.path, env)
            config["WorkingDir"] = posixpath.normpath(posixpath.join(state.workdir(), path))
        elif isinstance(instruction, User):
            config["User"] = self.expand(instruction, instruction.user, env)
        elif isinstance(instruction, Cmd | Entrypoint):
            command = (list(instruction.command) if instruction.exec_form
                       else [*state.shell(), instruction.command[0]])
            if isinstance(instruction, Cmd):
                config["Cmd"] = command
                state.cmd_set = True
            else:
                config["Entrypoint"] = command
                if not state.cmd_set:
                    config["Cmd"] = None  # ENTRYPOINT resets an inherited CMD, as Docker
        elif isinstance(instruction, Expose):
            ports = dict(config.get("ExposedPorts") or {})
            for word in instruction.ports:
                for port in self.expand_list(instruction, word, env):
                    if not _PORT.match(port):
                        raise self.fail(instruction, f"EXPOSE {port}: not a port "
                                                     "(e.g. 80, 80/tcp, 53/udp)")
                    ports[port if "/" in port else f"{port}/tcp"] = {}
            config["ExposedPorts"] = ports
        elif isinstance(instruction, Volume):
            volumes = dict(config.get("Volumes") or {})
            for raw in instruction.paths:
                for path in self.expand_list(instruction, raw, env):
                    volumes[path] = {}
            config["Volumes"] = volumes
        elif isinstance(instruction, Stopsignal):
            config["StopSignal"] = self.expand(instruction, instruction.signal, env)
        elif isinstance(instruction, Healthcheck):
            config["Healthcheck"] = self._healthcheck(instruction)
        elif isinstance(instruction, Shell):
            config["Shell"] = list(instruction.shell)
        elif isinstance(instruction, Maintainer):
            state.author = instruction.name
        else:  # pragma: no cover - the parser makes no other kind
            raise self.fail(instruction, f"cannot build {instruction.text!r}")
        state.history.append({"created_by": instruction.text, "empty_layer": True})
        return None

    @staticmethod
    def _healthcheck(instruction: Healthcheck) -> dict[str, Any]:
        if instruction.test is None:
            return {"Test": ["NONE"]}
        check: dict[str, Any] = {"Test": list(instruction.test)}
        for key, value in (("Interval", instruction.interval_ns),
                           ("Timeout", instruction.timeout_ns),
                           ("StartPeriod", instruction.start_period_ns),
                           ("StartInterval", instruction.start_interval_ns),
                           ("Retries", instruction.retries)):
            if value:
                check[key] = value
        return check

    def _arg(self, state: _StageState, instruction: Arg) -> None:
        for name, default in instruction.pairs:
            if name in self.options.args:
                state.args[name] = self.options.args[name]
                self.used_args.add(name)
            elif default is not None:
                state.args[name] = self.expand(instruction, default, state.substitution_env())
            elif name in self.global_args:
                state.args[name] = self.global_args[name]
            elif name in _predefined_args():
                state.args[name] = _predefined_args()[name]

    # ---- layer steps ---------------------------------------------------------------

    def _lookup(self, state: _StageState, step: Mapping[str, Any]) -> tuple[str, str | None,
                                                                            bool]:
        """(key, layer, hit) for a step on the current layers."""
        key = step_key(state.layers, step)
        if not self.options.no_cache:
            entry = self.cache.get(key)
            if entry is not None and (entry.layer is None or self.backend.has_layer(entry.layer)):
                return key, entry.layer, True
        return key, None, False

    def _record(self, state: _StageState, instruction: Instruction, key: str,
                layer: str | None, *, store: bool) -> None:
        if store:
            self.cache.put(key, CacheEntry(layer))
        if layer is not None:
            state.layers.append(layer)
        history: dict[str, Any] = {"created_by": instruction.text}
        if layer is None:
            history["empty_layer"] = True
        state.history.append(history)

    def _run_spec(self, state: _StageState, instruction: Run) -> RunSpec:
        argv = (list(instruction.command) if instruction.exec_form
                else [*state.shell(), instruction.command[0]])
        if not argv:
            raise self.fail(instruction, "RUN has an empty command")
        proxies = {k: v for k, v in self.options.args.items() if k in PROXY_ARGS}
        self.used_args.update(proxies)
        environment = {**proxies, **state.args, **state.env()}
        environment.setdefault("PATH", DEFAULT_PATH)
        env = tuple(sorted(f"{key}={value}" for key, value in environment.items()))
        return RunSpec(tuple(argv), env, state.workdir(), str(state.config.get("User") or ""),
                       self.options.network, self.options.shm_size, self.options.extra_hosts,
                       self.options.ulimits, self.options.privileged)

    def _make_workdir(self, root: Path, spec: RunSpec, instruction: Run) -> None:
        """Make a missing WORKDIR before RUN uses it, owned by the USER (as BuildKit)."""
        if resolve_in_root(root, spec.workdir).is_dir():
            return
        try:
            owner = resolve_user(root, spec.user) if spec.user else None
            make_dirs(root, spec.workdir, owner if os.geteuid() == 0 else None)
        except SourceError as error:
            raise self.fail(instruction, f"WORKDIR {spec.workdir}: {error}") from None

    def _run(self, state: _StageState, instruction: Run) -> bool:
        spec = self._run_spec(state, instruction)
        # Proxy settings reach RUN without an ARG and stay out of the cache key (Docker).
        keyed_env = [item for item in spec.env if item.partition("=")[0] not in PROXY_ARGS
                     or item.partition("=")[0] in state.args]
        step = {"run": list(spec.argv), "env": keyed_env, "workdir": spec.workdir,
                "user": spec.user, "network": spec.network}
        key, layer, hit = self._lookup(state, step)
        if hit:
            self._record(state, instruction, key, layer, store=False)
            return True
        with self.backend.rootfs(state.layers) as session:
            self._make_workdir(session.root, spec, instruction)
            try:
                result = session.run(spec)
            except BuildError:
                raise
            except StackrError as error:
                # The container could not be made (an unknown USER, a missing shell):
                # say which instruction, keep the runtime's own words.
                raise self.fail(instruction, f"RUN could not start: {error}") from error
            if result.exit_code != 0:
                shown = instruction.text.partition(" ")[2].strip()
                raise RunFailedError(dockerfile=self.dockerfile.path, line=instruction.line,
                                     command=shown, exit_code=result.exit_code,
                                     output=_tail(result.output))
            layer = session.commit()
        self._record(state, instruction, key, layer, store=True)
        return False

    def _copy(self, state: _StageState, instruction: Copy) -> bool:
        env = state.substitution_env()
        keyword = "ADD" if instruction.is_add else "COPY"
        sources = [self.expand(instruction, raw, env) for raw in instruction.sources]
        dest = self.expand(instruction, instruction.dest, env)
        chown = self.expand(instruction, instruction.chown, env) if instruction.chown else None
        chmod = self.expand(instruction, instruction.chmod, env) if instruction.chmod else None
        mode = None
        if chmod is not None:
            try:
                mode = parse_chmod(chmod)
            except SourceError as error:
                raise self.fail(instruction, str(error)) from None
        for source in sources:
            if re.match(r"^[a-z][a-z0-9+.-]*://", source) or source.startswith("git@"):
                raise self.fail(instruction, f"{keyword} {source}: adding from a URL or git "
                                             "repository is not supported by stackr; "
                                             "download it in a RUN step instead")
        with ExitStack() as cleanup:
            return self._copy_sources(state, instruction, cleanup, sources, dest, chown,
                                      chmod, mode, env)

    def _inline_tree(self, instruction: Copy, cleanup: ExitStack,
                     env: Mapping[str, str]) -> tuple[SourceTree, list[Selected]]:
        """Heredoc files (``COPY <<EOF /dest``) written to a private temporary tree."""
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
            prefix="stackr-heredoc-")))
        for name, body, expand in instruction.heredocs:
            if expand:
                try:
                    body = expand_variables(body, env, escape=self.dockerfile.escape)
                except SubstitutionError as error:
                    raise self.fail(instruction, str(error)) from None
            path = directory / name
            path.write_text(body)
            os.chmod(path, 0o644)
            os.utime(path, (0, 0))  # a fixed time: the same text gives the same layer
        tree = SourceTree(directory)
        return tree, [s for name, _, _ in instruction.heredocs for s in tree.select(name)]

    def _copy_sources(self, state: _StageState, instruction: Copy, cleanup: ExitStack,
                      sources: list[str], dest: str, chown: str | None, chmod: str | None,
                      mode: int | None, env: Mapping[str, str]) -> bool:
        keyword = "ADD" if instruction.is_add else "COPY"
        from_layers: list[str] | None = None
        groups: list[tuple[SourceTree, list[Selected]]] = []
        step: dict[str, Any] = {"copy": sources, "dest": dest, "workdir": state.workdir(),
                                "chown": chown, "chmod": chmod, "add": instruction.is_add}
        if instruction.from_stage is not None:
            reference = self.expand(instruction, instruction.from_stage, env)
            source_state = self._stage_by_ref(reference)
            if source_state is not None:
                from_layers = list(source_state.layers)
            else:
                from_layers = list(self._image(instruction, reference).layers)
            # Layers are content digests: they identify the source files exactly.
            step["from"] = from_layers
        else:
            try:
                if sources:
                    groups.append((self.tree, [s for source in sources
                                               for s in self.tree.select(source)]))
                if instruction.heredocs:
                    groups.append(self._inline_tree(instruction, cleanup, env))
            except SourceError as error:
                raise self.fail(instruction, f"{keyword} failed: {error}") from None
            step["content"] = [tree.content_hash(picked) for tree, picked in groups]
        count = len(sources) + len(instruction.heredocs)
        several = count > 1 or any(has_wildcard(s) for s in sources)
        if count > 1 and not dest.endswith("/"):
            raise self.fail(instruction, f"when copying several sources, the destination "
                                         f"{dest!r} must be a directory and end with /")
        key, layer, hit = self._lookup(state, step)
        if hit:
            self._record(state, instruction, key, layer, store=False)
            return True
        request = CopyRequest(dest, state.workdir(), None, mode,
                              unpack_archives=instruction.is_add and from_layers is None)
        try:
            with self.backend.rootfs(state.layers) as session:
                if chown:
                    request = CopyRequest(dest, state.workdir(), resolve_user(session.root, chown),
                                          mode, request.unpack_archives)
                if from_layers is not None:
                    source_session = cleanup.enter_context(self.backend.rootfs(from_layers))
                    tree = SourceTree(source_session.root, scoped=True)
                    groups = [(tree, [s for source in sources for s in tree.select(source)])]
                total = sum(len(picked) for _, picked in groups)
                for tree, picked in groups:
                    copy_sources(tree, picked, session.root, request,
                                 several=several and total > 1)
                layer = session.commit()
        except SourceError as error:
            raise self.fail(instruction, f"{keyword} failed: {error}") from None
        self._record(state, instruction, key, layer, store=True)
        return False


def build_image(options: BuildOptions, backend: BuildBackend, *,
                progress: Progress | None = None) -> BuildResult:
    """Build ``options`` with ``backend``; the image is stored and tagged with
    ``options.tags``. Raises ``DockerfileError`` / ``BuildError`` / ``RunFailedError``."""
    return Builder(options, backend, progress=progress).build()


def image_name(project: str, service: str, image: str | None) -> str:
    """The name a Compose service's built image gets: ``image:`` if given, else
    ``<project>-<service>`` (as docker compose names it)."""
    return image if image else built_image_name(project, service)


def options_from_compose(build: Mapping[str, Any] | str, *, project_dir: Path,
                         tags: Sequence[str] = (), no_cache: bool = False,
                         pull: bool = False,
                         environ: Mapping[str, str] | None = None) -> BuildOptions:
    """A Compose service's ``build:`` (a context path, or the long form as the stack
    file's model gives it: context, dockerfile, dockerfile_inline, args, target, labels,
    no_cache, pull, tags, network, shm_size, extra_hosts, ulimits, privileged) →
    BuildOptions (``tags`` after the given ones).
    List-form ``args`` entries without ``=`` take their value from ``environ``, and are
    left out when it has none (as Compose)."""
    if isinstance(build, str):
        build = {"context": build}
    supported = {"context", "dockerfile", "dockerfile_inline", "args", "target", "labels",
                 "no_cache", "pull", "tags", "network", "shm_size", "extra_hosts", "ulimits",
                 "privileged"}
    unknown = sorted(set(build) - supported)
    if unknown:
        raise BuildError(f"build: key(s) {', '.join(unknown)} are not supported by stackr")
    context = Path(str(build.get("context") or "."))
    if not context.is_absolute():
        context = project_dir / context
    if "://" in str(build.get("context") or ""):
        raise BuildError(f"build.context {build['context']!r}: remote contexts are not "
                         "supported by stackr")
    if build.get("dockerfile") and build.get("dockerfile_inline"):
        raise BuildError("build: dockerfile and dockerfile_inline cannot both be set")
    network = str(build.get("network") or "default")
    if network not in BUILD_NETWORKS:
        raise BuildError(f"build.network {network!r}: one of {', '.join(BUILD_NETWORKS)}")

    def pairs(value: Any, what: str) -> dict[str, str]:
        result: dict[str, str] = {}
        if value is None:
            return result
        if isinstance(value, Mapping):
            for key, item in value.items():
                if item is None:
                    found = (environ or {}).get(str(key))
                    if found is not None:
                        result[str(key)] = found
                else:
                    result[str(key)] = str(item)
            return result
        if isinstance(value, list | tuple):
            for entry in value:
                key, has_value, item = str(entry).partition("=")
                if has_value:
                    result[key] = item
                elif (environ or {}).get(key) is not None:
                    result[key] = (environ or {})[key]
            return result
        raise BuildError(f"build.{what}: expected a mapping or a list of KEY=VALUE")

    return BuildOptions(
        context=context,
        dockerfile=str(build.get("dockerfile") or "Dockerfile"),
        dockerfile_inline=build.get("dockerfile_inline"),
        args=pairs(build.get("args"), "args"),
        target=build.get("target"),
        labels=pairs(build.get("labels"), "labels"),
        no_cache=bool(build.get("no_cache")) or no_cache,
        pull=bool(build.get("pull")) or pull,
        tags=tuple(dict.fromkeys([*tags, *build.get("tags", ())])),
        network=network,
        shm_size=build.get("shm_size"),
        extra_hosts=tuple((str(name), str(address))
                          for name, addresses in (build.get("extra_hosts") or {}).items()
                          for address in addresses),
        ulimits=tuple((str(name), int(limit["soft"]), int(limit["hard"]))
                      for name, limit in sorted((build.get("ulimits") or {}).items())),
        privileged=bool(build.get("privileged")),
    )


def build_service_image(project_name: str, project_dir: Path, service_name: str,
                        service: Any, backend: BuildBackend, *,
                        environ: Mapping[str, str] | None = None, no_cache: bool = False,
                        pull: bool = False, build_args: Mapping[str, str] | None = None,
                        progress: Progress | None = None) -> BuildResult:
    """Build a Compose service's image (``service.build``, a ``config`` model) and name
    it ``image_name(project, service, service.image)``: the call ``stackr build`` and
    ``up --build`` / ``pull_policy: build`` / a missing image with ``build:`` make."""
    if service.build is None:
        raise BuildError(f"service {service_name} has no build: section")
    build = service.build
    section = build.model_dump(exclude_none=True) if hasattr(build, "model_dump") else build
    options = options_from_compose(
        section, project_dir=project_dir,
        tags=[image_name(project_name, service_name, service.image)],
        no_cache=no_cache, pull=pull, environ=environ)
    if build_args:
        options = replace(options, args={**options.args, **build_args})
    return Builder(options, backend, progress=progress).build()
