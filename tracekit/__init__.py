"""tracekit: record-and-replay analysis of DRM/GEM buffer-object reference counting.

The pipeline, one module per stage::

    ingest (grammars/) -> raw events -> normalize (profiles) -> ops -> replay -> states
    -> rules (rules/) -> findings -> report / cli
"""

from tracekit.errors import ExitCode, InputError, TracekitError

__version__ = "0.1.0"

__all__ = ["ExitCode", "InputError", "TracekitError", "__version__"]
