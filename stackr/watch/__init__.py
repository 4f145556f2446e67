"""``stackr watch``: reapply the stack on every change of its files, and sync, restart or
rebuild services on changes of their ``develop.watch`` paths.

``debounce`` batches events, ``watcher`` turns watchdog's events into paths, ``rules``
says which rule a path belongs to, ``sync`` writes into a running container from the
host, ``loop`` decides what each batch does, ``engine_applier`` carries it out.
"""
