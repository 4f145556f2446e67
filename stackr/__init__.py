"""stackr: a declarative, compose-compatible container runtime with its own engine.

Importing this package has no side effects and imports nothing heavy: the CLI's start-up
time depends on it.
"""

__version__ = "0.1.0"
