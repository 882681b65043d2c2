"""Find the data directories (``grammars/``, ``rules/``) in a checkout or an installed wheel.

In the repository they sit at the top level, next to the ``tracekit`` package. The wheel carries
them inside the package as ``tracekit/_data/<name>`` (``pyproject.toml``, ``force-include``), so a
plain ``pip install .`` finds them too, wherever it is run from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The directory holding the shipped ``name`` files (``grammars`` or ``rules``).

    >>> data_dir("grammars").name
    'grammars'
    """
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"tracekit data directory {name!r} not found (looked in {_PKG / '_data'} and {_PKG.parent})"
    )


def grammar_path(name: str) -> Path:
    """Path of the Lark grammar ``name`` (``ftrace.lark``)."""
    return data_dir("grammars") / name
