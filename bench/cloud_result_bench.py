"""S3Result / GCSResult write+read of a 100 MB value vs the raw SDK on the same local server, same run.

S3: moto_server, raw = boto3 ``upload_file``/``download_file`` of the same bytes. GCS: gcp-storage-emulator,
raw = google-cloud-storage ``upload_from_filename``/``download_to_filename``. The servers are started here on free
loopback ports. Prints best-of-N times and the throughput ratio raw/Result (1.0 = as fast as the raw SDK).

    .venv/bin/python bench/cloud_result_bench.py [--size-mb 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
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


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start_ = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start_)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="results-cloud-bench-"))
    os.environ.setdefault("AIRFLOW_HOME", str(tmp / "home"))
    bin_dir = Path(sys.executable).parent
    s3_port, gcs_port = free_port(), free_port()
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
        cases = {
            "S3 raw boto3": lambda: (
                s3.upload_file(str(source), "bench", "raw.bin"),
                s3.download_file("bench", "raw.bin", str(target)),
            ),
            "S3Result": lambda: s3_result.read(s3_result.write(value).location),
            "GCS raw client": lambda: (
                gcs.bucket("bench").blob("raw.bin").upload_from_filename(str(source)),
                gcs.bucket("bench").blob("raw.bin").download_to_filename(str(target)),
            ),
            "GCSResult": lambda: gcs_result.read(gcs_result.write(value).location),
        }
        for fn in cases.values():  # warm up connections and imports
            fn()
        times = {name: best(fn, args.repeat) for name, fn in cases.items()}
        print(f"{args.size_mb} MB write+read, best of {args.repeat}")
        for name, seconds in times.items():
            print(f"  {name:16} {seconds:7.2f} s")
        print(f"  S3Result throughput vs raw boto3:   {times['S3 raw boto3'] / times['S3Result']:.2f}x")
        print(f"  GCSResult throughput vs raw client: {times['GCS raw client'] / times['GCSResult']:.2f}x")
    finally:
        for proc in servers:
            proc.terminate()


if __name__ == "__main__":
    main()
