"""Local storage servers on loopback ports: moto_server (S3), gcp-storage-emulator (GCS) and Azurite (Azure Blob),
the AIRFLOW_CONN_* environment values that point Airflow's default connections at them, and SDK clients for them.

Shared by the test fixtures (tests/storage_servers.py) and bench/cloud_result_bench.py, so it imports only the
standard library at module level (no pytest; each SDK is imported by the function that makes its client).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout} s")


def start(
    cmd: list[str],
    name: str,
    port: int,
    log: IO | int = subprocess.DEVNULL,
    timeout: float = 60,
) -> subprocess.Popen:
    """Starts ``cmd`` (stdout and stderr to ``log``) and returns once it listens on ``port``."""
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, proc, name, timeout)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def moto_command(port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("moto_server")), "-H", HOST, "-p", str(port)]


def gcs_emulator_command(port: int) -> list[str]:
    exe = str(Path(sys.executable).with_name("gcp-storage-emulator"))
    return [exe, "start", "--host", HOST, "--port", str(port), "--in-memory"]


def azurite_executable() -> list[str] | None:
    """The repo's ``npm install``-ed azurite-blob, else one on PATH; None where neither is."""
    local = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return [str(local)]
    found = shutil.which("azurite-blob")
    return [found] if found else None


def azurite_command(executable: list[str], port: int, workspace: Path) -> list[str]:
    return [
        *executable,
        "--blobHost",
        HOST,
        "--blobPort",
        str(port),
        "--skipApiVersionCheck",
        "--silent",
        "--disableTelemetry",
        "--loose",
        "--location",
        str(workspace),
    ]


def s3_endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def s3_env(endpoint: str) -> dict[str, str]:
    """``aws_default`` on moto_server at ``endpoint``."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    return {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn)}


def gcs_env(port: int) -> dict[str, str]:
    """``google_cloud_default`` (anonymous, project ``test``) on the emulator, through STORAGE_EMULATOR_HOST."""
    conn = {"conn_type": "google_cloud_platform", "extra": {"project": "test", "is_anonymous": True}}
    return {
        "STORAGE_EMULATOR_HOST": f"http://{HOST}:{port}",
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(conn),
    }


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{HOST}:{port}/{AZURITE_ACCOUNT};"
    )


def wasb_env(connection_string: str) -> dict[str, str]:
    """``wasb_default`` on Azurite."""
    conn = {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
    return {"AIRFLOW_CONN_WASB_DEFAULT": json.dumps(conn)}


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def gcs_client():
    """A client of the emulator that STORAGE_EMULATOR_HOST names (set it first: :func:`gcs_env`)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test", credentials=AnonymousCredentials())


def azure_client(connection_string: str):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string)
