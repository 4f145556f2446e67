"""stackr's models run without pydantic plugins, and without pydantic looking for any.

When it builds its first model, pydantic looks for plugins among the entry points of
every installed distribution (``pydantic.plugin._loader``): it imports
``importlib.metadata`` (with ``email``, ``tempfile``, ``zipfile``...) and reads the
metadata of each distribution, ~40 ms of every ``stackr`` command that loads a stack
file, for plugins stackr does not use (and would not want instrumenting the validation
of stack files). ``PYDANTIC_DISABLE_PLUGINS`` skips the reading, not the imports.

``skip_discovery`` puts in the loader's place a module that finds none. Its one name,
``get_plugins``, is what pydantic imports from the loader (2.x, checked by a test); a
pydantic that loaded its own already keeps it.
"""

from __future__ import annotations

import sys
import types

LOADER = "pydantic.plugin._loader"


def _no_plugins() -> tuple[()]:
    return ()


def skip_discovery() -> None:
    if LOADER not in sys.modules:
        loader = types.ModuleType(LOADER, "stackr: no plugins (stackr.config.pydantic_plugins)")
        loader.get_plugins = _no_plugins  # type: ignore[attr-defined]
        sys.modules[LOADER] = loader
