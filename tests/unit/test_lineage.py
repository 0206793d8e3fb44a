"""Hook-level lineage of Result reads and writes, counted on Airflow's real ``HookLineageCollector``.

Airflow creates a collecting (not a no-op) collector only when a plugin registers a hook lineage reader, and
it caches its plugins per process: each check runs in a fresh Python process, with a plugins folder holding a
plugin that registers Airflow's own ``HookLineageReader`` (what the OpenLineage provider's plugin does), so
these tests need no OpenLineage provider and run on every leg of the matrix.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, airflow_env

READER_PLUGIN = """
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.lineage import HookLineageReader


class LineageReaderPlugin(AirflowPlugin):
    name = "results_tests_lineage_reader"
    hook_lineage_readers = [HookLineageReader]
"""

PRELUDE = """
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
from airflow.sdk.lineage import get_hook_lineage_collector
from airflow.sdk.listener import get_listener_manager

if "--outside-a-task" not in sys.argv:
    get_listener_manager()  # what a task runner does first: load the plugins and their listeners


def collected():
    lineage = get_hook_lineage_collector().collected_assets
    return {
        "inputs": [[info.asset.uri, info.count] for info in lineage.inputs],
        "outputs": [[info.asset.uri, info.count] for info in lineage.outputs],
    }


def created():
    return get_hook_lineage_collector.cache_info().currsize != 0
"""


def run_script(tmp_path: Path, body: str, *, reader: bool = True, in_a_task: bool = True, **env: str) -> dict:
    """Run ``PRELUDE + body`` in a fresh process (a lineage reader plugin registered when ``reader``, plugins
    loaded first as a task runner does when ``in_a_task``); the JSON object its last line prints."""
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    if reader:
        (plugins / "lineage_reader_plugin.py").write_text(READER_PLUGIN)
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(store)]
        + ([] if in_a_task else ["--outside-a-task"]),
        env=airflow_env(
            AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
            AIRFLOW__RESULTS__LOCAL_DIR=str(store),
            PYTHONPATH=str(ROOT),
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_one_asset_per_result_location_however_often_it_is_written_or_read(tmp_path):
    out = run_script(
        tmp_path,
        """
        from airflow_results_provider import LocalResult

        result = LocalResult(dir=str(root), location="{dag_id}/{task_id}.pkl")
        written = result.write({"v": 1}, dag_id="d", task_id="t")
        result.copy().write({"v": 2}, dag_id="d", task_id="t")  # another copy, same location
        for _ in range(3):
            assert result.read(written.location).value == {"v": 2}
        print(json.dumps({**collected(), "uri": result.uri(written.location)}))
        """,
    )
    uri = (tmp_path / "store" / "d" / "t.pkl").as_uri()
    assert out["uri"] == uri
    assert out["outputs"] == [[uri, 2]]  # two writes of one location: one asset, counted twice
    assert out["inputs"] == [[uri, 3]]


def test_an_offloaded_list_in_chunks_is_one_asset_written_and_one_read(tmp_path):
    out = run_script(
        tmp_path,
        """
        from types import SimpleNamespace
        from airflow_results_provider.xcom import ResultXComBackend
        from airflow_results_provider.xcom import backend

        value = [{"i": i, "pad": "x" * 100} for i in range(50)]
        token = backend._FEEDS_MAPPED_TASKS.set(True)  # what ResultXComBackend.set does for a mapped list
        try:
            envelope = ResultXComBackend.serialize_value(
                value, key="return_value", dag_id="d", task_id="items", run_id="r", map_index=-1
            )
        finally:
            backend._FEEDS_MAPPED_TASKS.reset(token)
        chunk_files = sorted(p.name for p in root.rglob("part-*") if not p.name.endswith(".meta.json"))
        assert envelope["kind"] == "sequence", envelope
        row = SimpleNamespace(value=envelope, key="return_value")
        with backend._pulling(dag_id="d", task_id="items", run_id="r", map_index=-1, xcom_key="return_value"):
            assert ResultXComBackend.deserialize_value(row) == value  # reads every chunk
        print(json.dumps({**collected(), "location": envelope["location"], "chunks": len(chunk_files)}))
        """,
        AIRFLOW__RESULTS__XCOM_INLINE_THRESHOLD="0",
    )
    assert out["chunks"] == 50
    assert out["outputs"] == [[out["location"], 1]]  # 50 chunk objects and their sidecars: one asset
    assert out["inputs"] == [[out["location"], 50]]  # 50 chunk reads: one asset
    assert out["location"].startswith((tmp_path / "store" / "xcom").as_uri())


def test_object_storage_temp_files_and_sidecars_are_not_reported(tmp_path):
    # ObjectStoragePath.open reports every file it opens; the Result writes a temp file, two sidecars and
    # reads a sidecar around the payload, and only the payload must be named.
    out = run_script(
        tmp_path,
        """
        from airflow_results_provider import ObjectStorageResult

        result = ObjectStorageResult(root.as_uri())
        written = result.write([1, 2, 3], dag_id="d", task_id="t", run_id="r")
        assert result.read(written.location).value == [1, 2, 3]
        print(json.dumps({**collected(), "uri": result.uri(written.location)}))
        """,
    )
    assert out["outputs"] == [[out["uri"], 1]]
    assert out["inputs"] == [[out["uri"], 1]]


def test_results_without_a_stored_location_and_bookkeeping_records_report_nothing(tmp_path):
    out = run_script(
        tmp_path,
        """
        from airflow_results_provider import ConstantResult, InlineResult, LocalResult, SecretResult
        from airflow_results_provider.core.signing import RECORD_CACHE, RECORD_LOOP_STATE
        from airflow_results_provider.results.lineage import lineage_uri

        inline = InlineResult().write({"a": 1})
        InlineResult().read(inline.location)
        ConstantResult(value=3).read()
        assert lineage_uri(SecretResult(variable="my_secret_variable"), "my_secret_variable") is None
        for kind in (RECORD_CACHE, RECORD_LOOP_STATE):
            store = LocalResult(dir=str(root))
            store.record_kind = kind
            written = store.write({"entry": 1}, dag_id="d", task_id=kind)
            store.read(written.location)
        print(json.dumps(collected()))
        """,
    )
    assert out == {"inputs": [], "outputs": []}


def test_lineage_errors_never_fail_the_read_or_write(tmp_path):
    out = run_script(
        tmp_path,
        """
        from airflow_results_provider import LocalResult

        class ReservedSchemeResult(LocalResult):
            # Airflow refuses an asset URI of the reserved "airflow" scheme: the collector raises.
            def lineage_uri(self, location):
                return "airflow://reserved/" + location

        result = ReservedSchemeResult(dir=str(root))
        written = result.write({"v": 1}, dag_id="d", task_id="t")
        assert result.read(written.location).value == {"v": 1}
        print(json.dumps(collected()))
        """,
    )
    assert out == {"inputs": [], "outputs": []}


@pytest.mark.parametrize(
    ("reader", "in_a_task"), [(False, True), (True, False)], ids=["no-reader", "outside-a-task"]
)
def test_no_collector_is_created_when_nothing_would_read_it(tmp_path, reader, in_a_task):
    # Creating the collector loads every provider's asset factories (seconds): without a reader (no
    # OpenLineage) or outside a task (a CLI command: no plugins loaded, so no lineage listener either),
    # nothing would read what it collects, and it is not created; outside a task no plugin is loaded for it.
    out = run_script(
        tmp_path,
        """
        from airflow.sdk import plugins_manager
        from airflow_results_provider import LocalResult

        result = LocalResult(dir=str(root))
        written = result.write({"v": 1}, dag_id="d", task_id="t")
        result.read(written.location)
        print(json.dumps({"created": created(), "plugins": plugins_manager._get_plugins.cache_info().currsize}))
        """,
        reader=reader,
        in_a_task=in_a_task,
    )
    assert out == {"created": False, "plugins": 1 if in_a_task else 0}


def test_an_s3_multipart_write_is_one_asset(tmp_path, s3_server):
    # moto: a 12 MB value goes up in three 5 MB parts, beside a pending and a final sidecar and a lease.
    out = run_script(
        tmp_path,
        """
        from airflow_results_provider import S3Result

        result = S3Result("results-test", prefix="lineage", part_size=5 * 1024 * 1024)
        written = result.write(b"x" * 12 * 1024 * 1024, dag_id="d", task_id="big", run_id="r")
        assert len(result.read(written.location).value) == 12 * 1024 * 1024
        print(json.dumps({**collected(), "uri": result.uri(written.location)}))
        """,
    )
    assert out["uri"].startswith("s3://results-test/lineage/d/")
    assert out["outputs"] == [[out["uri"], 1]]
    assert out["inputs"] == [[out["uri"], 1]]
