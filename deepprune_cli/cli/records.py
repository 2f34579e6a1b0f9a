"""Helpers shared by the commands that run a model over streamed records (predict, scan, mutate)."""

from __future__ import annotations

import itertools


class RecordProgress:
    """A rich progress line on stderr counting records and their rate (the total is unknown while
    streaming). Disabled: every method does nothing."""

    def __init__(self, con, what: str, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,.0f} records"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=con,
            transient=False,
        )
        self.task = self.progress.add_task(what, total=None, rate="")

    def __enter__(self):
        if self.enabled:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.__exit__(*exc)

    def update(self, n_records: int) -> None:
        if not self.enabled:
            return
        task = self.progress.tasks[self.task]
        elapsed = task.elapsed or 0.0
        rate = f"{n_records / elapsed * 60:,.0f}/min" if elapsed > 0 else ""
        self.progress.update(self.task, completed=n_records, rate=rate)


def peek_first(chunks):
    """``(first chunk, an iterator over all chunks)``: reading the first chunk before opening the
    output lets bad input fail before anything is written, even to stdout."""
    it = iter(chunks)
    first = next(it, None)
    return first, (it if first is None else itertools.chain([first], it))
