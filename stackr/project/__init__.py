"""The project pipeline after the model: desired state, translation to engine bodies,
observation of the engine, the executor, and the per-project lock (DESIGN.md §1).

``desired``, ``translate`` and the plan (``stackr.plan``) are pure; ``observe`` only
reads the engine; ``apply`` carries out a plan and decides nothing.
"""
