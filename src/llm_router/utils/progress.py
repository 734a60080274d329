"""Progress bars: one rich layout for every long-running step (training, cross-validation, distillation,
comparison), and a small handle that does nothing when bars are off."""

from __future__ import annotations

import contextlib


def make_progress(enabled: bool = True, transient: bool = False):
    """A rich Progress (steps, elapsed, remaining, an ``info`` field) or a null context yielding None."""
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        transient=transient,
    )


class Bar:
    """A task of a rich Progress (or nothing when ``progress`` is None): ``advance``, ``update``, ``reset``,
    ``print``, ``close``."""

    def __init__(self, progress=None, description: str = "", total: int | None = None):
        self.progress = progress
        self.task = progress.add_task(description, total=total, info="") if progress is not None else None

    def reset(self, total: int, description: str) -> None:
        if self.progress is not None:
            self.progress.reset(self.task, total=total, description=description)

    def advance(self, n: int = 1, **fields) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=n, **fields)

    def update(self, **fields) -> None:
        if self.progress is not None:
            self.progress.update(self.task, **fields)

    def print(self, message: str, **kwargs) -> None:
        """A line above the bar (on the bar's console)."""
        if self.progress is not None:
            self.progress.console.print(message, **kwargs)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.remove_task(self.task)
