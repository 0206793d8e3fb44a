"""S3Result / GCSResult / AzureResult write+read of a 100 MB value vs the raw SDK on the same local server, same
run, interleaved (raw, Result, raw, Result, ...), best of N.

S3: moto_server, raw = boto3 ``upload_file``/``download_file`` of the same bytes. GCS: gcp-storage-emulator,
raw = google-cloud-storage ``upload_from_filename``/``download_to_filename``. Azure: Azurite, raw =
azure-storage-blob ``upload_blob``/``download_blob().readinto`` of a file. The servers are started here on free
loopback ports, by tests/local_servers.py as the test fixtures start them. Prints best-of-N times and the
throughput ratio raw/Result (1.0 = as fast as the raw SDK).

    .venv/bin/python bench/cloud_result_bench.py [--size-mb 100] [--repeat 3] [--stores s3 gcs azure]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.local_servers
from tests import local_servers

# Every process of a benchmark is one deployment: one signing key (Airflow makes one up per process).
os.environ.setdefault("AIRFLOW__API__SECRET_KEY", "bench-deployment-key")


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
    s3_port, gcs_port, azure_port = (local_servers.free_port() for _ in range(3))
    azure_executable = local_servers.azurite_executable() if "azure" in args.stores else None
    if "azure" in args.stores and azure_executable is None:
        print("Azurite is not installed (bash scripts/bootstrap.sh): skipping Azure")
        args.stores.remove("azure")
    servers = [
        local_servers.start(local_servers.moto_command(s3_port), "moto_server", s3_port, timeout=30),
        local_servers.start(
            local_servers.gcs_emulator_command(gcs_port), "gcp-storage-emulator", gcs_port, timeout=30
        ),
    ]
    if "azure" in args.stores:
        (tmp / "azurite").mkdir()
        command = local_servers.azurite_command(azure_executable, azure_port, tmp / "azurite")
        servers.append(local_servers.start(command, "azurite", azure_port, timeout=30))
    try:
        endpoint = local_servers.s3_endpoint(s3_port)
        os.environ.update(local_servers.s3_env(endpoint))
        os.environ.update(local_servers.gcs_env(gcs_port))
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
        s3 = local_servers.s3_client(endpoint)
        s3.create_bucket(Bucket="bench")
        gcs = local_servers.gcs_client()
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
            connection_string = local_servers.azurite_connection_string(azure_port)
            os.environ.update(local_servers.wasb_env(connection_string))
            from airflow_results_provider.results.azure_result import AzureResult

            azure = local_servers.azure_client(connection_string)
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
