"""The container runtime: namespaces, an OverlayFS root, cgroups, secure defaults.

The public API is ``stackr.runtime.container`` (create/start/state/wait/kill/delete)
over the frozen description in ``stackr.runtime.spec``. This package imports nothing
heavy: the re-executed init (``python -m stackr.runtime.init``) starts from it.
"""
