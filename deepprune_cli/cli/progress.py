"""Progress on stderr (rich): one base for every command's display, switched off by ``--quiet``.

Each display is a context manager that does nothing when disabled, so a command writes
``with progress:`` and calls ``progress.update(...)`` (or ``progress(event, info)`` for prune)
without asking whether it is shown.
"""

from __future__ import annotations


class Display:
    """A rich live display on ``con`` while the ``with`` block runs; every method is a no-op when
    ``enabled`` is false. Subclasses build the rich object in :meth:`_open`."""

    def __init__(self, con, enabled: bool = True):
        self.con = con
        self.enabled = enabled
        self.live = None

    def _open(self):
        raise NotImplementedError

    def _close(self) -> None:
        """Called before the display ends (e.g. to finish bars early stopping left short)."""

    def __enter__(self):
        if self.enabled:
            self.live = self._open()
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self._close()
            self.live.__exit__(*exc)
            self.live = None


class RecordProgress(Display):
    """Records streamed so far and their rate (predict, scan, mutate; the total is unknown)."""

    def __init__(self, con, what: str, enabled: bool = True):
        super().__init__(con, enabled)
        self.what = what

    def _open(self):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        live = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,.0f} records"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=self.con, transient=False,
        )  # fmt: skip
        self.task = live.add_task(self.what, total=None, rate="")
        return live

    def update(self, n_records: int) -> None:
        if self.live is None:
            return
        task = self.live.tasks[self.task]
        elapsed = task.elapsed or 0.0
        rate = f"{n_records / elapsed * 60:,.0f}/min" if elapsed > 0 else ""
        self.live.update(self.task, completed=n_records, rate=rate)


class SeedProgress(Display):
    """One bar per fit (train: per seed, or per seed and restart): epoch, train loss, val loss, val AUROC.

    ``labels`` name the fits (``seed 0``, ``seed 0 restart 2/3`` ...)."""

    def __init__(self, con, labels, max_epochs: int, enabled: bool = True):
        super().__init__(con, enabled)
        self.labels, self.max_epochs = list(labels), max_epochs

    def _open(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        live = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=self.con, transient=False,
        )  # fmt: skip
        self.tasks = [live.add_task(f"{label} epoch", total=self.max_epochs, info="", start=True) for label in self.labels]
        return live

    def _close(self) -> None:
        for t in self.tasks:  # early stopping ends bars before their maximum
            self.live.update(t, total=self.live.tasks[t].completed or 1)

    def update(self, i: int, row: dict) -> None:
        if self.live is None:
            return
        info = (
            f"loss {row['train_loss']:.4f}  val {row['val_loss']:.4f}  AUROC {row['val_auroc']:.4f}"
            f"  best epoch {row['best_epoch']}"
        )
        self.live.update(self.tasks[i], completed=row["epoch"], info=info)


class StageStatus(Display):
    """A status line for prune (current stage and epoch) and one printed line per finished stage;
    called as ``progress(event, info)`` by :class:`~deepprune_cli.core.pruning.PruneRun`."""

    def _open(self):
        return self.con.status("starting")

    def __call__(self, event: str, info: dict) -> None:
        if not self.enabled:
            return
        if event == "fit" and self.live is not None:
            self.live.update(f"{info['stage']}: {info['kernels']} kernels, lr {info['lr']:.2e}")
        elif event == "epoch" and self.live is not None:
            self.live.update(
                f"{info['stage']}: epoch {info['epoch']}  loss {info['train_loss']:.4f}  "
                f"val loss {info['val_loss']:.4f}  val AUROC {info['val_auroc']:.4f}"
            )
        elif event in ("stage", "resumed"):
            test = "" if info["test_auroc"] is None else f", test AUROC {info['test_auroc']:.4f}"
            done = "resumed" if event == "resumed" else f"{info['epochs']} epochs, {info['seconds']:.1f} s"
            failed = "" if info.get("trained_ok", True) else " [bold red]training failed[/]" + (
                f": {info['failure']}" if info.get("failure") else "")
            kept = " (the fine-tune lost val AUROC: its calibrated start kept)" if info.get("calibrated_start") else ""
            self.con.print(
                f"  round {info['round']} {info['variant']:<14} {info['kernels']:>5} kernels: "
                f"val AUROC {info['val_auroc']:.4f}{test} ({done}){kept}{failed}"
            )
