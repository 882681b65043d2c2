"""Call pairing in one compiled pass: :func:`tracekit.normalize.calls.pair_calls`, over arrays.

Pairing walks the events of a capture in replay order and keeps one stack of open calls per task,
which polars cannot express column-wise: the Python loop that does it takes about 1.5 s at a
million events, the largest single step of normalisation. This module runs the same loop compiled
by numba. The stacks are linked lists in one array (an entry's node points at the node below it),
so a push, a pop and the search for a return's entry allocate nothing.

``tests/test_normalize_differential.py`` requires both loops to pair identically, on every real
capture and on random event sequences (hypothesis).
"""

from __future__ import annotations

import numpy as np
from numba import njit

AT_EVENT, AT_ENTRY, AT_RETURN = 0, 1, 2
"""What an event is, as :func:`pair` reads ``at``: a tracepoint, a kprobe entry or a return."""


@njit(cache=True)
def pair(
    task: np.ndarray,
    func: np.ndarray,
    at: np.ndarray,
    opens: np.ndarray,
    line: np.ndarray,
    row: np.ndarray,
    n_tasks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(entry, call)`` of each event, -1 for none: the ``row`` of a return's entry, and the
    ``line`` of the innermost open call each event happened in (for a return: the call it
    closes). ``func`` is a code per function name (equal codes, equal names); ``opens``: the event
    is an entry of a function with a return probe in this capture."""
    n = task.size
    entry = np.full(n, -1, np.int64)
    call = np.full(n, -1, np.int64)
    top = np.full(n_tasks, -1, np.int64)  # each task's innermost open call: a node, or -1
    below = np.empty(n, np.int64)  # node -> the node under it
    node_func = np.empty(n, np.int64)
    node_line = np.empty(n, np.int64)
    node_row = np.empty(n, np.int64)
    nodes = 0
    for i in range(n):
        t = task[i]
        if at[i] != AT_RETURN:  # an event or an entry: inside the innermost open call
            if top[t] >= 0:
                call[i] = node_line[top[t]]
            if opens[i]:
                below[nodes] = top[t]
                node_func[nodes] = func[i]
                node_line[nodes] = line[i]
                node_row[nodes] = row[i]
                top[t] = nodes
                nodes += 1
            continue
        # a return closes the latest open entry of its function; entries above it have returned
        e = top[t]
        while e >= 0:
            if node_func[e] == func[i]:
                entry[i] = node_row[e]
                call[i] = node_line[e]
                top[t] = below[e]
                break
            e = below[e]
    return entry, call
