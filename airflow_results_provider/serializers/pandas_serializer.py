"""PandasSerializer: DataFrames through pandas' own ``to_<type>`` / ``read_<type>`` functions."""

from __future__ import annotations

import io
from typing import IO, Any, ClassVar

from airflow_results_provider.exceptions import SerializationError, missing_extra_error
from airflow_results_provider.serializers.base import StreamingSerializer

# file_type -> (writes text?, reads text?); formats pandas can stream to / from a binary file object.
_FILE_TYPES: dict[str, bool] = {
    "parquet": False,
    "feather": False,
    "orc": False,
    "pickle": False,
    "excel": False,
    "stata": False,
    "csv": True,
    "json": True,
    "html": True,
    "xml": False,
}


class PandasSerializer(StreamingSerializer):
    """Serializes pandas DataFrames with ``DataFrame.to_<file_type>`` and reads with ``pandas.read_<file_type>``.

    pandas is imported only when a value is serialized (install the ``pandas`` extra).

    :param file_type: one of parquet, feather, orc, pickle, excel, stata, csv, json, html, xml.
    :param serialize_kwargs: keyword arguments for ``DataFrame.to_<file_type>``.
    :param deserialize_kwargs: keyword arguments for ``pandas.read_<file_type>``.

    .. code-block:: python

        LocalResult(location="{dag_id}/{ds}/frame.parquet", serializer=PandasSerializer("parquet"))
    """

    name: ClassVar[str] = "pandas"

    def __init__(
        self,
        file_type: str,
        serialize_kwargs: dict[str, Any] | None = None,
        deserialize_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if file_type not in _FILE_TYPES:
            raise ValueError(
                f"PandasSerializer: unsupported file_type {file_type!r}; choose one of {sorted(_FILE_TYPES)}"
            )
        self.file_type = file_type
        self.serialize_kwargs = dict(serialize_kwargs or {})
        self.deserialize_kwargs = dict(deserialize_kwargs or {})

    @property
    def extension(self) -> str:  # type: ignore[override]
        """The file type's usual extension (``parquet``, ``csv``, ``xlsx``, ``dta``, ``pkl`` ...)."""
        return {"excel": "xlsx", "stata": "dta", "pickle": "pkl"}.get(self.file_type, self.file_type)

    @property
    def loads_code(self) -> bool:
        """True only for the ``pickle`` file type."""
        return self.file_type == "pickle"

    @property
    def label(self) -> str:
        """``pandas-<file_type>`` (``pandas-parquet``)."""
        return f"pandas-{self.file_type}"

    @staticmethod
    def _pandas():
        try:
            import pandas
        except ImportError as exc:
            raise missing_extra_error("PandasSerializer", "pandas", exc, SerializationError) from exc
        return pandas

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Write the DataFrame or Series ``value`` to ``fileobj`` with ``value.to_<file_type>``."""
        pandas = self._pandas()
        if not isinstance(value, (pandas.DataFrame, pandas.Series)):
            raise self._error("serialize", TypeError("expected a pandas DataFrame or Series"), value)
        writer = getattr(value, f"to_{self.file_type}", None)
        if writer is None:
            raise self._error(
                "serialize", TypeError(f"{type(value).__name__} has no to_{self.file_type}"), value
            )
        try:
            if _FILE_TYPES[self.file_type]:
                text = io.TextIOWrapper(fileobj, encoding="utf-8", newline="")
                try:
                    writer(text, **self.serialize_kwargs)
                finally:
                    text.flush()
                    text.detach()
            else:
                writer(fileobj, **self.serialize_kwargs)
        except Exception as exc:
            raise self._error("serialize", exc, value) from exc

    def load(self, fileobj: IO[bytes]) -> Any:
        """Read a DataFrame from ``fileobj`` with ``pandas.read_<file_type>``."""
        pandas = self._pandas()
        reader = getattr(pandas, f"read_{self.file_type}")
        try:
            if self.file_type in {"parquet", "feather", "orc"}:
                # pyarrow needs a seekable file; a non-seekable stream is read into memory once.
                if not (hasattr(fileobj, "seekable") and fileobj.seekable()):
                    fileobj = io.BytesIO(fileobj.read())
                return reader(fileobj, **self.deserialize_kwargs)
            if self.file_type in {"json", "html"}:
                return reader(io.StringIO(fileobj.read().decode("utf-8")), **self.deserialize_kwargs)
            if self.file_type == "xml":
                # pandas 2.x's read_xml (lxml) seeks the stream and closes it when done; the document is
                # parsed whole anyway, so it reads a copy in memory and the caller's stream stays open.
                return reader(io.BytesIO(fileobj.read()), **self.deserialize_kwargs)
            return reader(fileobj, **self.deserialize_kwargs)
        except Exception as exc:
            raise self._error("deserialize", exc) from exc
