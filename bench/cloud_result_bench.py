"""S3Result / GCSResult / AzureResult write+read of a 100 MB value vs the raw SDK on the same local server, same
run, interleaved (raw, Result, raw, Result, ...), best of N.

S3: moto_server, raw = boto3 ``upload_file``/``download_file`` of the same bytes. GCS: gcp-storage-emulator,
raw = google-cloud-storage ``upload_from_filename``/``download_to_filename``. Azure: Azurite, raw =
azure-storage-blob ``upload_blob``/``download_blob().readinto`` of a file. The servers are started here on free
loopback ports. Prints best-of-N times and the throughput ratio raw/Result (1.0 = as fast as the raw SDK).

    .venv/bin/python bench/cloud_result_bench.py [--size-mb 100] [--repeat 3] [--stores s3 gcs azure]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    raise RuntimeError(f"{cmd[0]} did not start")


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_command() -> list[str] | None:
    local = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return [str(local)]
    found = shutil.which("azurite-blob")
    return [found] if found else None


def main() -> None:
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=["s3", "gcs", "azure"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="results-cloud-bench-"))
    os.environ.setdefault("AIRFLOW_HOME", str(tmp / "home"))
    bin_dir = Path(sys.executable).parent
    s3_port, gcs_port, azure_port = free_port(), free_port(), free_port()
    azure_command = azurite_command() if "azure" in args.stores else None
    if "azure" in args.stores and azure_command is None:
        print("Azurite is not installed (bash scripts/bootstrap.sh): skipping Azure")
        args.stores.remove("azure")
    servers = [
        start([str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], s3_port),
        start(
            [
                str(bin_dir / "gcp-storage-emulator"),
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(gcs_port),
                "--in-memory",
            ],
            gcs_port,
        ),
    ]
    if "azure" in args.stores:
        (tmp / "azurite").mkdir()
        servers.append(
            start(
                [
                    *azure_command,
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(azure_port),
                    "--skipApiVersionCheck",
                    "--silent",
                    "--disableTelemetry",
                    "--loose",
                    "--location",
                    str(tmp / "azurite"),
                ],
                azure_port,
            )
        )
    try:
        endpoint = f"http://127.0.0.1:{s3_port}"
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        )
        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{gcs_port}"
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "test", "is_anonymous": True}}
        )
        import boto3
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from airflow_results_provider.results.gcs_result import GCSResult
        from airflow_results_provider.results.s3_result import S3Result
        from airflow_results_provider.serializers.base import Serializer

        class RawBytes(Serializer):  # the same bytes on both sides: no pickle framing
            name = "raw"

            def dump(self, value, fileobj):
                fileobj.write(value)

            def load(self, fileobj):
                return fileobj.read()

        value = os.urandom(args.size_mb * 2**20)
        source, target = tmp / "source.bin", tmp / "target.bin"
        source.write_bytes(value)
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="bench")
        gcs = storage.Client(project="test", credentials=AnonymousCredentials())
        gcs.create_bucket("bench")

        s3_result = S3Result("bench", location="result.bin", serializer=RawBytes())
        gcs_result = GCSResult("bench", location="result.bin", serializer=RawBytes())
        cases = {}
        cases["S3 raw boto3"] = lambda: (
            s3.upload_file(str(source), "bench", "raw.bin"),
            s3.download_file("bench", "raw.bin", str(target)),
        )
        cases["S3Result"] = lambda: s3_result.read(s3_result.write(value).location)
        cases["GCS raw client"] = lambda: (
            gcs.bucket("bench").blob("raw.bin").upload_from_filename(str(source)),
            gcs.bucket("bench").blob("raw.bin").download_to_filename(str(target)),
        )
        # The raw client's default for a file is one resumable chunk of up to 100 MB held in memory; GCSResult
        # holds one chunk of GCSResult.chunk_size (32 MB). The same client with that chunk size, for comparison.
        chunk = gcs_result.chunk_size
        cases["GCS raw client, 32 MB chunks"] = lambda: (
            gcs.bucket("bench").blob("raw32.bin", chunk_size=chunk).upload_from_filename(str(source)),
            gcs.bucket("bench").blob("raw32.bin").download_to_filename(str(target)),
        )
        cases["GCSResult"] = lambda: gcs_result.read(gcs_result.write(value).location)
        if "azure" in args.stores:
            connection_string = (
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{azure_port}/devstoreaccount1;"
            )
            os.environ["AIRFLOW_CONN_WASB_DEFAULT"] = json.dumps(
                {"conn_type": "wasb", "extra": {"connection_string": connection_string}}
            )
            from azure.storage.blob import BlobServiceClient

            from airflow_results_provider.results.azure_result import AzureResult

            azure = BlobServiceClient.from_connection_string(connection_string)
            azure.create_container("bench")
            azure_result = AzureResult("bench", location="result.bin", serializer=RawBytes())

            def azure_raw() -> None:
                blob = azure.get_blob_client("bench", "raw.bin")
                with open(source, "rb") as f:
                    blob.upload_blob(f, overwrite=True)
                with open(target, "wb") as f:
                    blob.download_blob().readinto(f)

            cases["Azure raw client"] = azure_raw
            cases["AzureResult"] = lambda: azure_result.read(azure_result.write(value).location)
        prefixes = {"s3": "S3", "gcs": "GCS", "azure": "Azure"}
        cases = {k: v for k, v in cases.items() if any(k.startswith(prefixes[s]) for s in args.stores)}
        for fn in cases.values():  # warm up connections and imports
            fn()
        times = dict.fromkeys(cases, float("inf"))
        for _ in range(args.repeat):  # interleaved: machine noise hits raw and Result alike
            for name, fn in cases.items():
                start_ = time.perf_counter()
                fn()
                times[name] = min(times[name], time.perf_counter() - start_)
        print(f"{args.size_mb} MB write+read, best of {args.repeat}")
        for name, seconds in times.items():
            print(f"  {name:30} {seconds:7.2f} s")
        ratios = {}
        for raw, result in (
            ("S3 raw boto3", "S3Result"),
            ("GCS raw client", "GCSResult"),
            ("GCS raw client, 32 MB chunks", "GCSResult (same chunk size)"),
            ("Azure raw client", "AzureResult"),
        ):
            if raw in times:
                ratios[result] = times[raw] / times[result.split(" (")[0]]
                print(f"  {result} throughput vs raw client: {ratios[result]:.2f}x")
        if args.json:
            Path(args.json).write_text(json.dumps({"mb": args.size_mb, "seconds": times, "ratios": ratios}))
    finally:
        for proc in servers:
            proc.terminate()


if __name__ == "__main__":
    main()
