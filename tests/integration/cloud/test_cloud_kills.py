"""kill -9 of a writer at any point on S3, GCS and Azure (issue 21, finding 3): the previous value stays readable
and verified, the next write is not blocked, and nothing half-written is visible."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.integration.cloud.test_cloud_results import BUCKET, unique_prefix

pytestmark = pytest.mark.airflow

WRITER = r"""
import os, sys
from airflow_results_provider.results.registry import result_from_spec

result = result_from_spec(sys.argv[1])
result.location = "killed.bin"
value = os.urandom(int(sys.argv[2]) << 20)
print("writing", flush=True)
for _ in range(20):
    result.write(value)
"""

#: Seconds after the child starts writing at which it is killed: mid-upload, and (for the last ones) on a later
#: write, anywhere in its commit.
KILL_AFTER = (0.3, 1.0, 2.5)


@pytest.fixture(params=["s3", "gs", "abfs"])
def store(request):
    server = {"s3": "s3_server", "gs": "gcs_server", "abfs": "azure_server"}[request.param]
    request.getfixturevalue(server)
    return f"{request.param}://{BUCKET}/{unique_prefix()}"


def _visible(result) -> list[str]:
    return sorted(obj.location for obj in result.list_objects())


def test_a_killed_writer_leaves_the_previous_value_and_no_trace(store):
    from airflow_results_provider.results.registry import result_from_spec

    result = result_from_spec(store)
    result.location = "killed.bin"
    previous = result.write({"previous": True})
    for delay in KILL_AFTER:
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, store, "12"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "writing", child.stderr.read()
            time.sleep(delay)
        finally:
            child.kill()
            child.wait(timeout=30)
        read = result_from_spec(store).read(
            "killed.bin"
        )  # whole and verified: the previous or a child's value
        assert read.value == {"previous": True} or len(read.value) == 12 << 20
        assert _visible(result) in (
            ["killed.bin", "killed.bin.meta.json"],
            [
                "killed.bin",
                "killed.bin.lock",
                "killed.bin.meta.json",
            ],  # killed inside its commit: a lease left
        )
    # A lease left by a killed commit expires; the next write gets through and reads back.
    again = result_from_spec(store)
    again.location = "killed.bin"
    again.write({"after": True})
    assert result_from_spec(store).read("killed.bin").value == {"after": True}
    assert _visible(result) == ["killed.bin", "killed.bin.meta.json"]
    assert previous.metadata["sha256"]
