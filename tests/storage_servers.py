"""Real storage servers on loopback, started by the tests: moto_server (S3), gcp-storage-emulator (GCS) and
Azurite (Azure Blob). Airflow connections point at them through AIRFLOW_CONN_* environment variables. The
commands, connections and clients are in tests/local_servers.py, which bench/cloud_result_bench.py shares.

The fixtures are registered once, by tests/conftest.py: a fixture imported into two conftest files is two
session fixtures, and the second to start would repoint the environment (the connections) at its own server
while clients made by the first still talk to the first (a GCS read of a just-written object answered 404).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import local_servers

_wait_for_port = local_servers.wait_for_port  # tests/e2e_celery/conftest.py imports it from here


@contextlib.contextmanager
def _serving(cmd: list[str], name: str, port: int, env: dict[str, str]) -> Iterator[None]:
    """Runs the server ``cmd`` (its log: ``name``.log in AIRFLOW_HOME) with ``env`` set, until the block ends."""
    with open(Path(os.environ["AIRFLOW_HOME"]) / f"{name}.log", "w") as log:
        proc = local_servers.start(cmd, name, port, log)
        previous = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            local_servers.stop(proc)


@pytest.fixture(scope="session")
def s3_server():
    """``moto_server`` on a free port; the ``aws_default`` connection points at it. Yields a boto3 client."""
    pytest.importorskip("airflow.providers.amazon", reason="install the amazon extra")
    port = local_servers.free_port()
    endpoint = local_servers.s3_endpoint(port)
    env = {**local_servers.s3_env(endpoint), "AWS_EC2_METADATA_DISABLED": "true"}
    with _serving(local_servers.moto_command(port), "moto", port, env):
        client = local_servers.s3_client(endpoint)
        client.create_bucket(Bucket="results-test")
        client.endpoint = endpoint
        yield client


@pytest.fixture(scope="session")
def gcs_server():
    """``gcp-storage-emulator`` (in memory) on a free port; ``google_cloud_default`` points at it."""
    pytest.importorskip("airflow.providers.google", reason="install the google extra")
    port = local_servers.free_port()
    command = local_servers.gcs_emulator_command(port)
    with _serving(command, "gcs-emulator", port, local_servers.gcs_env(port)):
        client = local_servers.gcs_client()
        client.create_bucket("results-test")
        yield client


@pytest.fixture(scope="session")
def azure_server():
    """Azurite's blob service (workspace in the test AIRFLOW_HOME) on a free port; ``wasb_default`` points at it."""
    pytest.importorskip("airflow.providers.microsoft.azure", reason="install the azure extra")
    executable = local_servers.azurite_executable()
    if executable is None:
        if shutil.which("node") is None:
            pytest.skip(
                "node is not installed, so Azurite cannot run (bash scripts/bootstrap.sh installs it)"
            )
        pytest.fail("Azurite is not installed: run bash scripts/bootstrap.sh (npm install azurite)")
    port = local_servers.free_port()
    workspace = Path(os.environ["AIRFLOW_HOME"]) / f"azurite-{uuid.uuid4().hex[:6]}"
    workspace.mkdir()
    command = local_servers.azurite_command(executable, port, workspace)
    connection_string = local_servers.azurite_connection_string(port)
    with _serving(command, "azurite", port, local_servers.wasb_env(connection_string)):
        client = local_servers.azure_client(connection_string)
        client.create_container("results-test")
        client.connection_string = connection_string
        yield client
