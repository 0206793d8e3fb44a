"""AzureResult: payloads as Azure blobs through the microsoft-azure provider's WasbHook (``[azure]``)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import IO, Any, ClassVar
from urllib.parse import quote

from airflow_results_provider.results.base import Location
from airflow_results_provider.results.bucket_result import BucketResult
from airflow_results_provider.results.part_writer import PART_SIZE, BufferedPartWriter
from airflow_results_provider.results.storage import PayloadWriter
from airflow_results_provider.serializers.base import Serializer


class _StreamReader:
    """A ``read(n)`` file over an azure ``StorageStreamDownloader``'s chunks."""

    def __init__(self, downloader: Any) -> None:
        self._chunks = downloader.chunks()
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._pending + b"".join(self._chunks)
        while len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        self._pending = b""


class AzureResult(BucketResult):
    """Stores payloads as block blobs ``container/prefix/<location>`` through ``WasbHook(wasb_conn_id)``.

    Large values are staged as blocks (8 MB at a time) and become visible when the block list is committed; a
    failed write commits nothing, so the previous blob stays. ``exists`` is one properties request.
    """

    scheme: ClassVar[str] = "abfs"
    container_attr: ClassVar[str] = "container"
    conn_attr: ClassVar[str] = "wasb_conn_id"
    default_conn_id: ClassVar[str] = "wasb_default"
    hook_path: ClassVar[tuple[str, str, str]] = (
        "airflow.providers.microsoft.azure.hooks.wasb",
        "WasbHook",
        "azure",
    )
    conditional_writes: ClassVar[bool] = True
    provider: ClassVar[str] = "Azure"

    def __init__(
        self,
        container: str,
        location: Location | None = None,
        serializer: Serializer | None = None,
        wasb_conn_id: str = "wasb_default",
        prefix: str = "",
        block_size: int = PART_SIZE,
        **kwargs: Any,
    ) -> None:
        self.wasb_conn_id = wasb_conn_id
        self.block_size = block_size
        super().__init__(container, location=location, serializer=serializer, prefix=prefix, **kwargs)

    def _blob(self, key: str) -> Any:
        return self.client.get_blob_client(container=self.container, blob=key)

    def console_url(self, key: str) -> str | None:
        account = getattr(self.client, "account_name", None) or ""
        return (
            "https://portal.azure.com/#view/Microsoft_Azure_Storage/BlobPropertiesBladeV2/storageAccountId/"
            f"{quote(account)}/path/{quote(self.container)}%2F{quote(key, safe='')}"
        )

    def lineage_uri(self, location: str) -> str:
        """``abfs://container@account.dfs.core.windows.net/key``, the form Airflow's ``abfs`` object storage
        and OpenLineage's ABFS naming use; ``abfs://container/key`` when the account is unknown."""
        account = getattr(self.client, "account_name", None)
        if not account:
            return self.uri(location)
        return f"abfs://{self.container}@{account}.dfs.core.windows.net/{self.key(location)}"

    @staticmethod
    def _is_not_found(exc: Exception) -> bool:
        return type(exc).__name__ == "ResourceNotFoundError" or getattr(exc, "status_code", None) == 404

    def _open_key_writer(self, key: str) -> PayloadWriter:
        return _BlockWriter(self, key)

    def _list_keys(self, key_prefix: str) -> Iterator[tuple[str, int, Any]]:
        container = self.client.get_container_client(self.container)
        for blob in container.list_blobs(name_starts_with=key_prefix):
            yield blob.name, blob.size or 0, blob.last_modified

    def _open_key_reader(self, key: str) -> IO[bytes]:
        return self._call(key, "read", lambda: _StreamReader(self._blob(key).download_blob()))

    def _create_if_absent(self, key: str, data: bytes) -> bool:
        try:
            self._blob(key).upload_blob(data, overwrite=False)
        except Exception as exc:
            if type(exc).__name__ == "ResourceExistsError" or getattr(exc, "status_code", None) == 409:
                return False
            raise self._fail(exc, key, "write") from exc
        return True

    def _head(self, key: str) -> dict[str, Any] | None:
        props = self._call(key, "properties request", lambda: self._blob(key).get_blob_properties(), None)
        return None if props is None else {"size": props.size, "etag": props.etag}

    def _get_small(self, key: str) -> bytes | None:
        return self._call(key, "read", lambda: self._blob(key).download_blob().readall(), None)

    def _put_small(self, key: str, data: bytes) -> None:
        self._call(key, "write", lambda: self._blob(key).upload_blob(data, overwrite=True))

    def _delete_key(self, key: str) -> bool:
        deleted = self._call(key, "delete", lambda: self._blob(key).delete_blob(), False)
        return deleted is not False


class _BlockWriter(BufferedPartWriter):
    def __init__(self, result: AzureResult, key: str) -> None:
        super().__init__(result.block_size, result.upload_parallelism)
        self.result, self.key = result, key
        self.blocks: dict[int, str] = {}
        self._client = result._blob(key)
        self._writer_id = uuid.uuid4().hex

    def upload_part(self, data: bytes, index: int) -> None:
        block_id = base64.b64encode(f"{self._writer_id}-{index:06d}".encode()).decode()
        try:
            self._client.stage_block(block_id=block_id, data=data)
        except Exception as exc:
            raise self.result._fail(exc, self.key, "block upload") from exc
        self.blocks[index] = block_id

    def finish(self, small: bytes | None) -> None:
        if small is not None:
            self.result._put_small(self.key, small)
            return
        from azure.storage.blob import BlobBlock

        try:
            self._client.commit_block_list([BlobBlock(block_id=self.blocks[i]) for i in sorted(self.blocks)])
        except Exception as exc:
            raise self.result._fail(exc, self.key, "block list commit") from exc

    def discard(self) -> None:
        # Uncommitted blocks are never visible and are garbage-collected by the service after a week.
        self.blocks.clear()
