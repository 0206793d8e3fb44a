"""CompressedSerializer: wraps another serializer with a compression codec, streamed."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import IO, Any, ClassVar

from airflow_results_provider.core.streams import ForwardOnlyReader
from airflow_results_provider.exceptions import SerializationError, missing_extra_error
from airflow_results_provider.serializers.base import Serializer, StreamingSerializer


def _gzip_writer(f, **kw):
    import gzip

    return gzip.GzipFile(fileobj=f, mode="wb", **kw)


def _gzip_reader(f, **kw):
    import gzip

    return gzip.GzipFile(fileobj=f, mode="rb", **kw)


def _bz2_writer(f, **kw):
    import bz2

    return bz2.BZ2File(f, mode="wb", **kw)


def _bz2_reader(f, **kw):
    import bz2

    return bz2.BZ2File(f, mode="rb", **kw)


def _lzma_writer(f, **kw):
    import lzma

    return lzma.LZMAFile(f, mode="wb", **kw)


def _lzma_reader(f, **kw):
    import lzma

    return lzma.LZMAFile(f, mode="rb", **kw)


class _ZlibWriter(io.RawIOBase):
    def __init__(self, sink: IO[bytes], level: int = -1) -> None:
        import zlib

        super().__init__()
        self._sink = sink
        self._compressor = zlib.compressobj(level)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self._sink.write(self._compressor.compress(data))
        return memoryview(data).nbytes

    def close(self) -> None:
        if not self.closed:
            self._sink.write(self._compressor.flush())
        super().close()


class _ZlibReader(io.RawIOBase):
    def __init__(self, source: IO[bytes]) -> None:
        import zlib

        super().__init__()
        self._source = source
        self._decompressor = zlib.decompressobj()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._pending:
            if self._decompressor.eof:
                return 0
            chunk = self._source.read(1024 * 1024)
            if not chunk:
                self._pending = self._decompressor.flush()
                if not self._pending:
                    if not self._decompressor.eof:
                        raise EOFError("truncated zlib stream")
                    return 0
                break
            self._pending = self._decompressor.decompress(chunk, max(view.nbytes, 65536))
            while not self._pending and self._decompressor.unconsumed_tail:
                self._pending = self._decompressor.decompress(self._decompressor.unconsumed_tail, view.nbytes)
        n = min(len(self._pending), view.nbytes)
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        if not self._pending and self._decompressor.unconsumed_tail:
            self._pending = self._decompressor.decompress(self._decompressor.unconsumed_tail, 1024 * 1024)
        return n


def _zlib_writer(f, **kw):
    return io.BufferedWriter(_ZlibWriter(f, **kw), 1024 * 1024)


def _zlib_reader(f, **kw):
    return io.BufferedReader(_ZlibReader(f, **kw), 1024 * 1024)


def _codec_module(module: str, fmt: str) -> Any:
    """The optional library behind ``format=fmt`` (the ``compression`` extra)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra_error(
            f"CompressedSerializer(format='{fmt}')", "compression", exc, SerializationError
        ) from exc


def _zstd_writer(f, **kw):
    return _codec_module("zstandard", "zstd").ZstdCompressor(**kw).stream_writer(f, closefd=False)


def _zstd_reader(f, **kw):
    return io.BufferedReader(
        _codec_module("zstandard", "zstd").ZstdDecompressor(**kw).stream_reader(f, closefd=False), 1024 * 1024
    )


def _lz4_writer(f, **kw):
    return _codec_module("lz4.frame", "lz4").LZ4FrameFile(f, mode="wb", **kw)


def _lz4_reader(f, **kw):
    return _codec_module("lz4.frame", "lz4").LZ4FrameFile(f, mode="rb", **kw)


#: format -> (open a compressing writer over a sink, open a decompressing reader over a source)
CODECS: dict[str, tuple[Callable[..., IO[bytes]], Callable[..., IO[bytes]]]] = {
    "gzip": (_gzip_writer, _gzip_reader),
    "bz2": (_bz2_writer, _bz2_reader),
    "lzma": (_lzma_writer, _lzma_reader),
    "zlib": (_zlib_writer, _zlib_reader),
    "zstd": (_zstd_writer, _zstd_reader),
    "lz4": (_lz4_writer, _lz4_reader),
}


#: (compress, decompress) qualified names of a built-in codec's module functions -> that codec
_BUILTIN_FUNCTIONS = {
    (f"{m}.compress", f"{m}.decompress"): fmt
    for fmt, m in (("gzip", "gzip"), ("bz2", "bz2"), ("lzma", "lzma"), ("zlib", "zlib"), ("lz4", "lz4.frame"))
}


#: Prefect's module-name formats that are built-in codecs here
_MODULE_FORMATS = {"lz4.frame": "lz4", "zstandard": "zstd"}


def _qualname(function: Any) -> str:
    return f"{getattr(function, '__module__', None)}.{getattr(function, '__name__', None)}"


class _UnknownFormat(ImportError, ValueError):
    """No such codec nor importable module (an ImportError, like Prefect's, and a ValueError)."""


def _module_codec(name: str) -> tuple[Callable[..., bytes], Callable[..., bytes]]:
    """The ``compress``/``decompress`` functions of module ``name`` (Prefect's ``format=`` of any module)."""
    import importlib

    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise _UnknownFormat(
            f"CompressedSerializer: unknown format {name!r}: {name!r} is not installed "
            f"(built-in formats: {sorted(CODECS)})"
        ) from exc
    compress, decompress = getattr(module, "compress", None), getattr(module, "decompress", None)
    if not (callable(compress) and callable(decompress)):
        raise ValueError(f"CompressedSerializer: {name!r} module does not have 'compress' and 'decompress'")
    return compress, decompress


class CompressedSerializer(StreamingSerializer):
    """Compresses the output of another serializer.

    Give either ``format`` (gzip, bz2, lzma, zlib, zstd, lz4; streamed) or a ``compress`` /
    ``decompress`` pair of ``bytes -> bytes`` callables (not streamed).

    :param serializer: the serializer whose bytes are compressed.
    :param format: a built-in codec name.
    :param compress: custom compression callable.
    :param decompress: custom decompression callable.
    :param compress_kwargs: keyword arguments of the codec's writer / ``compress``.
    :param decompress_kwargs: keyword arguments of the codec's reader / ``decompress``.

    .. code-block:: python

        CompressedSerializer(PickleSerializer(), format="zstd")
    """

    name: ClassVar[str] = "compressed"

    def __init__(
        self,
        serializer: Serializer,
        format: str | None = None,
        compress: Callable[..., bytes] | None = None,
        decompress: Callable[..., bytes] | None = None,
        compress_kwargs: dict[str, Any] | None = None,
        decompress_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(serializer, Serializer):
            raise TypeError(f"CompressedSerializer wraps a Serializer, got {type(serializer).__name__}")
        if format is not None and (compress is not None or decompress is not None):
            raise ValueError("CompressedSerializer: give either format= or compress=/decompress=, not both")
        if format is None and (compress is None or decompress is None):
            raise ValueError("CompressedSerializer: give format= or both compress= and decompress=")
        if format is not None and format not in CODECS:
            # Prefect: any importable module with compress/decompress ("lz4.frame", "zstandard", ...)
            compress, decompress = _module_codec(format)
            format = _MODULE_FORMATS.get(format)  # a streamed built-in codec when there is one
            if format is not None:
                compress = decompress = None
        if format is None and not (compress_kwargs or decompress_kwargs):
            # A built-in codec's own functions are that codec, streamed (and equal to format=<name>).
            format = _BUILTIN_FUNCTIONS.get((_qualname(compress), _qualname(decompress)))
            if format is not None:
                compress = decompress = None
        self.serializer = serializer
        self.format = format
        self.compress = compress
        self.decompress = decompress
        self.compress_kwargs = dict(compress_kwargs or {})
        self.decompress_kwargs = dict(decompress_kwargs or {})

    @property
    def extension(self) -> str:  # type: ignore[override]
        """The inner serializer's extension plus the codec's (``pkl.zst``); ``z`` for custom callables."""
        inner = self.serializer.extension
        suffix = {"gzip": "gz", "bz2": "bz2", "lzma": "xz", "zlib": "zz", "zstd": "zst", "lz4": "lz4"}
        codec = suffix.get(self.format or "", "z")
        return f"{inner}.{codec}" if inner else codec

    @property
    def loads_code(self) -> bool:
        """Whether the inner serializer's loading can run code."""
        return self.serializer.loads_code

    @property
    def label(self) -> str:
        """``<codec>+<inner label>`` (``zstd+json``); ``custom+<inner label>`` for custom callables."""
        return f"{self.format or 'custom'}+{self.serializer.label}"

    def dump(self, value: Any, fileobj: IO[bytes]) -> None:
        """Stream ``value`` through the inner serializer and the codec into ``fileobj`` (custom callables
        compress the inner serializer's bytes in one piece)."""
        if self.format is None:
            data = self.serializer.serialize(value)
            try:
                fileobj.write(self.compress(data, **self.compress_kwargs))
            except Exception as exc:
                raise self._error("serialize", exc, value) from exc
            return
        writer = CODECS[self.format][0](fileobj, **self.compress_kwargs)
        try:
            self.serializer.dump(value, writer)
        finally:
            writer.close()

    def load(self, fileobj: IO[bytes]) -> Any:
        """Read a value from ``fileobj``, decompressing as a stream (custom callables decompress it whole)."""
        if self.format is None:
            try:
                data = self.decompress(fileobj.read(), **self.decompress_kwargs)
            except Exception as exc:
                raise self._error("deserialize", exc) from exc
            return self.serializer.deserialize(data)
        reader = CODECS[self.format][1](fileobj, **self.decompress_kwargs)
        try:
            # Decompressors claim to be seekable but rewind by re-reading their source: the inner serializer
            # must treat the stream as forward-only (pyarrow then buffers it once instead of failing).
            return self.serializer.load(io.BufferedReader(ForwardOnlyReader(reader), 1024 * 1024))
        except SerializationError:
            raise
        except Exception as exc:
            raise self._error("deserialize", exc) from exc
        finally:
            reader.close()
