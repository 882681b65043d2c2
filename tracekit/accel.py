"""Whether the compiled loops (:mod:`tracekit.model.compiled`, :mod:`tracekit.ingest.compiled`)
can run: numba is a dependency, but everything they compute has a polars path too, so tracekit
still works, only slower, where numba cannot be installed."""

from __future__ import annotations

import importlib.util
from functools import cache


@cache
def compiled_available() -> bool:
    return importlib.util.find_spec("numba") is not None
