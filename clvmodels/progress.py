"""Progress of long work: a bar where someone watches, log lines in batch jobs.

Every step that can take more than a few seconds (bootstrap refits, forecasting many customers,
...) reports through :func:`progress`:

- in a terminal or a Jupyter notebook, a tqdm progress bar on stderr (a widget in Jupyter when
  ipywidgets is installed);
- otherwise (a batch job, a pipe, CI), an INFO line on the ``clvmodels`` logger at most every
  ``LOG_EVERY`` seconds, and one when the step ends, so a scheduled job's log shows it is alive;
- nothing with ``enabled=False`` (the library's ``progress=False``).

``enabled=None`` (the default everywhere) means: a bar when someone watches, log lines otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress", "watched", "LOG_EVERY"]

#: seconds between two progress lines in the log
LOG_EVERY = 10.0

log = logging.getLogger("clvmodels")


def watched() -> bool:
    """Whether someone watches: a Jupyter kernel, or stderr is a terminal (not in CI)."""
    if os.environ.get("CI"):
        return False
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Log:
    """Progress as log lines, at most one every LOG_EVERY seconds (thread-safe)."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()

    def update(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last >= LOG_EVERY and self.done < self.total:
                self.last = now
                share = self.done / self.total if self.total else 1.0
                log.info("%s: %s of %s %s (%.0f%%), %.0f s", self.desc, f"{self.done:,}", f"{self.total:,}", self.unit, 100 * share, now - self.start)

    def close(self) -> None:
        elapsed = time.monotonic() - self.start
        if elapsed >= LOG_EVERY:
            log.info("%s: done, %s %s in %.0f s", self.desc, f"{self.done:,}", self.unit, elapsed)


class _Nothing:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def progress(total: int, desc: str, *, unit: str = "steps", enabled: bool | None = None) -> Iterator[Any]:
    """A progress reporter with ``update(n=1)``; see the module docstring.

    Parameters
    ----------
    total : int
        Steps in all.
    desc : str
        What is being done ("bootstrap refits").
    unit : str
        What a step is.
    enabled : bool, optional
        False: silent. True or None: a bar when someone watches (:func:`watched`), else log lines.

    Examples
    --------
    >>> with progress(3, "refits", enabled=False) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    """
    if enabled is False or total <= 0:
        reporter: Any = _Nothing()
    elif watched():
        if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
            from tqdm.notebook import tqdm  # a widget in Jupyter
        else:  # a terminal, or Jupyter without ipywidgets: text (tqdm.auto would warn there)
            from tqdm.std import tqdm

        reporter = tqdm(total=total, desc=desc, unit=f" {unit}", leave=False, file=sys.stderr, mininterval=0.5, delay=2.0)
    else:
        reporter = _Log(total, desc, unit)
    try:
        yield reporter
    finally:
        reporter.close()
