"""LocalResultHandler: raw cloudpickle files named ``prefect-result-*`` in a directory (Prefect 0.x format)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from airflow_results_provider.result_handlers.result_handler import ResultHandler


class LocalResultHandler(ResultHandler):
    """Writes ``cloudpickle.dumps(value)`` to a new file in ``dir`` and returns its absolute path.

    ``validate`` is accepted for Prefect compatibility; the directory is created on the first write.
    """

    def __init__(self, dir: str | None = None, validate: bool = True) -> None:
        self.dir = os.fspath(dir) if dir is not None else None

    @property  # type: ignore[no-redef]
    def dir(self) -> str:
        """The directory: as given, else ``[results] local_dir`` (resolved when read, like ``LocalResult.dir``)."""
        given = self.__dict__.get("dir")
        if given is not None:
            return given
        from airflow_results_provider import config

        return config.local_dir()

    @dir.setter
    def dir(self, value: str | None) -> None:
        self.__dict__["dir"] = value

    def _directory(self) -> str:
        from airflow_results_provider.results.local_result import LocalResult

        return LocalResult(dir=self.dir).base_dir  # the same resolution (and [results] local_dir default)

    def write(self, result: Any) -> str:
        import cloudpickle

        directory = self._directory()
        os.makedirs(directory, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="prefect-result-", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(cloudpickle.dumps(result))
        return path

    def read(self, fpath: str) -> Any:
        import cloudpickle

        with open(fpath, "rb") as handle:
            return cloudpickle.loads(handle.read())

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.local_result import LocalResult

        given = self.__dict__.get("dir")  # unset stays unset: resolved from [results] local_dir where it runs
        return LocalResult(dir=given), f"LocalResult(dir={given!r})"

    def _as_result(self) -> tuple[Any, str]:
        """The Result that replaces this handler, and how to spell it (for the deprecation warning)."""
        from airflow_results_provider.results.local_result import LocalResult

        given = self.__dict__.get("dir")  # unset stays unset: resolved from [results] local_dir where it runs
        return LocalResult(dir=given), f"LocalResult(dir={given!r})"
