"""Helpers shared by the commands that run a model over streamed records (predict, scan, mutate);
their progress line is :class:`deepprune_cli.cli.progress.RecordProgress`."""

from __future__ import annotations

import itertools


def peek_first(chunks):
    """``(first chunk, an iterator over all chunks)``: reading the first chunk before opening the
    output lets bad input fail before anything is written, even to stdout."""
    it = iter(chunks)
    first = next(it, None)
    return first, (it if first is None else itertools.chain([first], it))
