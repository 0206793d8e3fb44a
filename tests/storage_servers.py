"""Real storage servers on loopback, started by the tests: moto_server (S3), gcp-storage-emulator (GCS) and
Azurite (Azure Blob). Airflow connections point at them through AIRFLOW_CONN_* environment variables.

The fixtures are registered once, by tests/conftest.py: a fixture imported into two conftest files is two
session fixtures, and the second to start would repoint the environment (the connections) at its own server
while clients made by the first still talk to the first (a GCS read of a just-written object answered 404).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout} s")


def _start(cmd: list[str], name: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = open(Path(os.environ["AIRFLOW_HOME"]) / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ.copy())
    _wait_for_port(port, proc, name)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    return previous


def _restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def s3_server():
    """``moto_server`` on a free port; the ``aws_default`` connection points at it. Yields a boto3 client."""
    pytest.importorskip("airflow.providers.amazon", reason="install the amazon extra")
    port = free_port()
    proc = _start(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], "moto", port
    )
    endpoint = f"http://127.0.0.1:{port}"
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    previous = _set_env({"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn), "AWS_EC2_METADATA_DISABLED": "true"})
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="results-test")
    client.endpoint = endpoint
    yield client
    _restore_env(previous)
    _stop(proc)


@pytest.fixture(scope="session")
def gcs_server():
    """``gcp-storage-emulator`` (in memory) on a free port; ``google_cloud_default`` points at it."""
    pytest.importorskip("airflow.providers.google", reason="install the google extra")
    port = free_port()
    exe = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    proc = _start(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"], "gcs-emulator", port
    )
    conn = {"conn_type": "google_cloud_platform", "extra": {"project": "test", "is_anonymous": True}}
    previous = _set_env(
        {
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(conn),
        }
    )
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.create_bucket("results-test")
    yield client
    _restore_env(previous)
    _stop(proc)


def _azurite_command() -> list[str] | None:
    local = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return [str(local)]
    found = shutil.which("azurite-blob")
    return [found] if found else None


@pytest.fixture(scope="session")
def azure_server():
    """Azurite's blob service (workspace in the test AIRFLOW_HOME) on a free port; ``wasb_default`` points at it."""
    pytest.importorskip("airflow.providers.microsoft.azure", reason="install the azure extra")
    command = _azurite_command()
    if command is None:
        if shutil.which("node") is None:
            pytest.skip(
                "node is not installed, so Azurite cannot run (bash scripts/bootstrap.sh installs it)"
            )
        pytest.fail("Azurite is not installed: run bash scripts/bootstrap.sh (npm install azurite)")
    port = free_port()
    workspace = Path(os.environ["AIRFLOW_HOME"]) / f"azurite-{uuid.uuid4().hex[:6]}"
    workspace.mkdir()
    proc = _start(
        [
            *command,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--skipApiVersionCheck",
            "--silent",
            "--disableTelemetry",
            "--loose",
            "--location",
            str(workspace),
        ],
        "azurite",
        port,
    )
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
    conn = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
    previous = _set_env({"AIRFLOW_CONN_WASB_DEFAULT": json.dumps(conn)})
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string)
    client.create_container("results-test")
    client.connection_string = connection_string
    yield client
    _restore_env(previous)
    _stop(proc)
