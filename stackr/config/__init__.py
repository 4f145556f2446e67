"""The stack file: from YAML files to a validated, frozen, canonical ``Stack``.

Phases, in order (compose-go's parsing.md), each a module:

1. ``project``     which files, which project directory and name, which environment
                   (``-f``/default lookup, ``-p``/``name:``/directory, ``.env``/``--env-file``)
2. ``source``      YAML → plain data + ``SourceMap`` (file:line:col of every key and value);
                   safe loading, duplicate keys, alias/size bombs, YAML 1.2 scalars as Compose
3. ``interpolate`` ``${VAR}`` and friends, errors located at the scalar
4. ``merge``       several files merged as Compose merges them
5. ``envfile``     ``env_file`` read and merged under ``environment``
   → ``loader.load_raw(options) -> RawStack``
6. ``models``      pydantic v2 models, frozen; short syntax → long; unknown / unsupported
                   keys; units; → ``validate.validate_stack(raw) -> (Stack, warnings)``
7. ``profiles``    services outside the active profiles dropped
8. ``checks``      cross-references (undefined networks/volumes/services, duplicates, ports)

Every problem is a ``stackr.errors.Diagnostic``; a phase collects all it finds and
raises one ``StackFileError``. Nothing in this package touches the host beyond reading
files.
"""
