"""S3Result, GCSResult, AzureResult and ObjectStorageResult: the full Result contract against real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from airflow_results_provider.exceptions import InvalidLocationError, ResultError
from tests.unit.results.contract import ResultContract

pytestmark = pytest.mark.airflow
BUCKET = "results-test"


def unique_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class CloudSpecifics:
    """Checks shared by the cloud stores (subclasses provide make_result/raw_payload/put_raw)."""

    url_prefix = ""

    def put_raw(self, result, location: str, data: bytes) -> None:
        raise NotImplementedError

    def corrupt_payload(self, result, location):
        data = bytearray(self.raw_payload(result, location))
        data[len(data) // 2] ^= 0x01
        self.put_raw(result, location, bytes(data))

    def test_metadata_has_the_full_url_and_a_console_link(self, make_result):
        result = make_result(location="linked.pkl")
        written = result.write({"a": 1})
        assert written.metadata["location"] == f"{self.url_prefix}{result.key('linked.pkl')}"
        assert written.metadata["url"].startswith("https://")

    emulator_ignores_preconditions = False

    def test_concurrent_writers_to_one_key_leave_one_writers_payload_with_its_metadata(
        self, make_result, monkeypatch
    ):
        import random
        import threading

        if self.emulator_ignores_preconditions:
            pytest.skip("the emulator ignores conditional writes (the real service enforces them)")
        cls = type(make_result())
        original = cls.write_metadata

        def slow_final_sidecar(self, location, metadata):
            if not metadata.get("pending"):
                time.sleep(random.uniform(0, 0.05))  # widen the window between payload and final sidecar
            original(self, location, metadata)

        monkeypatch.setattr(cls, "write_metadata", slow_final_sidecar)
        writers, rounds = 6, 4
        for round_ in range(rounds):
            barrier = threading.Barrier(writers)
            errors: list[BaseException] = []

            def write(
                index: int, round_: int = round_, barrier: threading.Barrier = barrier, errors: list = errors
            ) -> None:
                result = make_result(location="shared.pkl")  # own client per writer, like separate workers
                assert result.client is not None  # connect before the start line, so the writes overlap
                barrier.wait()
                try:
                    result.write({"writer": index, "round": round_, "pad": os.urandom(4096)})
                except BaseException as exc:  # surfaced below
                    errors.append(exc)

            threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            read = make_result().read("shared.pkl")  # verified against the sidecar: raises if they disagree
            assert read.value["round"] == round_ and "pending" not in read.metadata
        assert make_result().exists("shared.pkl.lock") is False  # every lease released

    def test_a_reader_never_fails_while_eight_writers_overwrite(self, make_result):
        """Issue 21, finding 3: one reader during 8 writers x 20 rounds on one key sees one writer's whole value
        every time (commits are serialized by the lease; a read that raced a commit reads again), never an
        error. gcp-storage-emulator ignores preconditions (no lease), so there one writer races the reader."""
        import threading

        writers = 1 if self.emulator_ignores_preconditions else 8
        rounds = 20
        make_result(location="contended.pkl").write({"writer": -1, "round": -1})
        done = threading.Event()
        errors: list[BaseException] = []
        seen: list[tuple[int, int]] = []

        def write(index: int) -> None:
            result = make_result(location="contended.pkl")
            try:
                for round_ in range(rounds):
                    result.write({"writer": index, "round": round_, "pad": os.urandom(2048)})
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            result = make_result()
            while not done.is_set():
                try:
                    value = result.read("contended.pkl").value
                    seen.append((value["writer"], value["round"]))
                except BaseException as exc:
                    errors.append(exc)

        reader = threading.Thread(target=read)
        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        reader.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        reader.join()
        assert errors == [], f"{len(errors)} errors in {len(seen)} reads: {errors[:3]!r}"
        assert len(seen) > 10 and len(set(seen)) > 2  # the reader saw the value change while writers ran
        assert make_result().read("contended.pkl").value["round"] == rounds - 1

    def test_an_expired_lease_of_a_dead_writer_is_broken(self, make_result):
        import json as json_
        import time as time_

        result = make_result(location="leased.pkl")
        self.put_raw(
            result, "leased.pkl.lock", json_.dumps({"token": "dead", "expires": time_.time() - 1}).encode()
        )
        result.write("after the crash")
        assert result.read("leased.pkl").value == "after the crash"

    def test_locations_may_not_escape_the_prefix(self, make_result):
        for bad in ("../x.pkl", "/abs.pkl", "a/./b.pkl", "a//b.pkl"):
            with pytest.raises(InvalidLocationError):
                make_result(location=bad).write(1)

    def test_a_payload_without_metadata_reads_as_json_and_as_a_pickle_once_signed(self, make_result):
        from airflow_results_provider.exceptions import UnsignedRecordError
        from airflow_results_provider.index.resign import sign_stores
        from airflow_results_provider.serializers import JSONSerializer, PickleSerializer

        result = make_result()
        self.put_raw(result, "legacy.json", b'{"old": 1}')
        as_json = make_result(serializer=JSONSerializer())
        assert as_json.read("legacy.json").value == {"old": 1}  # nothing to verify, nothing that runs code
        self.put_raw(result, "legacy/old.pkl", PickleSerializer().serialize({"old": 1}))
        with pytest.raises(UnsignedRecordError):
            result.read("legacy/old.pkl")
        plan = sign_stores([result.store_spec()], prefix="legacy/", bare_serializer="pickle", dry_run=False)
        assert (plan.signed, plan.errors) == (1, [])
        assert result.read("legacy/old.pkl").value == {"old": 1}

    def test_large_values_stream_in_parts(self, make_result):
        result = make_result(location="big.bin")
        value = os.urandom(13 * 1024 * 1024)  # several parts / chunks / blocks
        written = result.write(value)
        assert written.metadata["size"] > len(value)
        assert result.read("big.bin").value == value

    def test_store_spec_round_trips_through_the_registry(self, make_result):
        from airflow_results_provider.results.registry import result_from_spec

        result = make_result(location="spec.pkl")
        result.write([1, 2])
        again = result_from_spec(result.store_spec())
        assert type(again) is type(result) and again.read("spec.pkl").value == [1, 2]


class TestS3Result(CloudSpecifics, ResultContract):
    url_prefix = f"s3://{BUCKET}/"

    @pytest.fixture
    def make_result(self, s3_server):
        from airflow_results_provider.results.s3_result import S3Result

        prefix = unique_prefix()

        def factory(**kwargs):
            kwargs.setdefault("prefix", prefix)
            kwargs.setdefault("part_size", 5 * 1024 * 1024)
            return S3Result(BUCKET, **kwargs)

        self.client = s3_server
        return factory

    def raw_payload(self, result, location):
        return self.client.get_object(Bucket=BUCKET, Key=result.key(location))["Body"].read()

    def put_raw(self, result, location, data):
        self.client.put_object(Bucket=BUCKET, Key=result.key(location), Body=data)

    def test_upload_options_reach_s3(self, make_result):
        result = make_result(location="sse.pkl", upload_options={"ServerSideEncryption": "AES256"})
        result.write(b"x" * 100)
        head = self.client.head_object(Bucket=BUCKET, Key=result.key("sse.pkl"))
        assert head["ServerSideEncryption"] == "AES256"

    def test_errors_name_bucket_and_key(self, s3_server):
        from airflow_results_provider.results.s3_result import S3Result

        result = S3Result("no-such-bucket-here", location="k.pkl")
        with pytest.raises(ResultError, match="s3://no-such-bucket-here/k.pkl"):
            result.write(1)
        with pytest.raises(
            ResultError, match="NoSuchBucket.*no-such-bucket-here|no-such-bucket-here.*NoSuchBucket"
        ):
            result.read("k.pkl")


class TestGCSResult(CloudSpecifics, ResultContract):
    url_prefix = f"gs://{BUCKET}/"
    emulator_ignores_preconditions = True  # gcp-storage-emulator has no ifGenerationMatch

    @pytest.fixture
    def make_result(self, gcs_server):
        from airflow_results_provider.results.gcs_result import GCSResult

        prefix = unique_prefix()

        def factory(**kwargs):
            kwargs.setdefault("prefix", prefix)
            kwargs.setdefault("chunk_size", 4 * 1024 * 1024)
            return GCSResult(BUCKET, **kwargs)

        self.client = gcs_server
        return factory

    def raw_payload(self, result, location):
        return self.client.bucket(BUCKET).blob(result.key(location)).download_as_bytes()

    def put_raw(self, result, location, data):
        self.client.bucket(BUCKET).blob(result.key(location)).upload_from_string(data)


class TestAzureResult(CloudSpecifics, ResultContract):
    url_prefix = f"abfs://{BUCKET}/"

    @pytest.fixture
    def make_result(self, azure_server):
        from airflow_results_provider.results.azure_result import AzureResult

        prefix = unique_prefix()

        def factory(**kwargs):
            kwargs.setdefault("prefix", prefix)
            kwargs.setdefault("block_size", 4 * 1024 * 1024)
            return AzureResult(BUCKET, **kwargs)

        self.client = azure_server
        return factory

    def _blob(self, result, location):
        return self.client.get_blob_client(container=BUCKET, blob=result.key(location))

    def raw_payload(self, result, location):
        return self._blob(result, location).download_blob().readall()

    def put_raw(self, result, location, data):
        self._blob(result, location).upload_blob(data, overwrite=True)


class TestObjectStorageResult(ResultContract):
    @pytest.fixture
    def make_result(self, tmp_path):
        from airflow_results_provider.results.object_storage_result import ObjectStorageResult

        self.root = tmp_path / "store"
        self.root.mkdir()

        def factory(**kwargs):
            return ObjectStorageResult(self.root.as_uri(), **kwargs)

        return factory

    def raw_payload(self, result, location):
        return (self.root / location).read_bytes()

    def corrupt_payload(self, result, location):
        path = self.root / location
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------------ interrupted writes

_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from airflow_results_provider.serializers.base import Serializer
    from airflow_results_provider.results.registry import result_from_spec

    class SlowBytes(Serializer):
        name = "slow"
        def dump(self, value, fileobj):
            chunk = b"x" * (1 << 20)
            for i in range(10_000):
                fileobj.write(chunk)
                if i > 12:
                    print("WRITING", flush=True)
                    time.sleep(0.05)
        def load(self, fileobj):
            return fileobj.read()

    result = result_from_spec(sys.argv[1])
    result.serializer = SlowBytes()
    result.location = sys.argv[2]
    result.write(b"")
    """
)

_MEMORY_PROBE = textwrap.dedent(
    """
    import json, os, resource, sys
    from airflow_results_provider.results.registry import result_from_spec

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    size = int(sys.argv[3])
    result = result_from_spec(sys.argv[1])
    result.exists("warm-up")  # imports the SDK and opens the client before anything is measured
    value = os.urandom(size)
    before = peak()
    result.location = sys.argv[2]
    result.write(value)
    after_write = peak()
    del value
    before_read = peak()
    value = result.read(sys.argv[2]).value
    after_read = peak()
    print(json.dumps({"write_extra": after_write - before, "read_extra": after_read - before_read, "size": len(value)}))
    """
)


def _store(kind, request):
    if kind == "s3":
        request.getfixturevalue("s3_server")
        return f"s3://{BUCKET}/{unique_prefix()}"
    if kind == "gcs":
        request.getfixturevalue("gcs_server")
        return f"gs://{BUCKET}/{unique_prefix()}"
    request.getfixturevalue("azure_server")
    return f"abfs://{BUCKET}/{unique_prefix()}"


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_write_killed_mid_upload_keeps_the_previous_object(kind, request):
    from airflow_results_provider.results.registry import result_from_spec

    spec = _store(kind, request)
    result = result_from_spec(spec)
    result.location = "victim.pkl"
    result.write({"previous": "value"})
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, spec, "victim.pkl"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        lines = []
        while not (lines and lines[-1].startswith("WRITING")):
            line = proc.stdout.readline()
            assert line, "the writer exited before writing:\n" + "".join(lines[-20:])
            lines.append(line)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert result_from_spec(spec).read("victim.pkl").value == {"previous": "value"}


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_200_mb_value_streams(kind, request):
    spec = _store(kind, request)
    size = 200 * 1024 * 1024
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, spec, "big.bin", str(size)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["size"] == size
    # Parts/chunks/blocks in flight, not a copy of the value (which would be >= 1.0 x size). Peak RSS measured
    # alone on an idle machine: S3 53 MB, GCS 67 MB for 200 MB (the old 0.25 x size bound passed only under
    # load); BucketResult.upload_parallelism's 40 MB per write does not count the SDK's buffers.
    assert figures["write_extra"] < 0.4 * size, figures
    assert figures["read_extra"] < 1.5 * size, figures  # the value itself plus buffers: well under two copies
