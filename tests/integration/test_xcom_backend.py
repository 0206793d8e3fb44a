"""ResultXComBackend in real DAG runs (a fresh process per configuration, backend set through env vars)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_results_provider.index._airflow_xcom import stores_per_attempt
from tests.conftest import ROOT, airflow_env, payload_files

pytestmark = pytest.mark.airflow

BACKEND = "airflow_results_provider.xcom.ResultXComBackend"

DAG = """
import threading
from pathlib import Path
from airflow.sdk import DAG, task
from airflow.providers.standard.operators.python import PythonOperator
from airflow_results_provider import ResultMixin

WORK = Path("__WORK__")


class ResultPythonOperator(ResultMixin, PythonOperator):
    pass


def big_list():
    return list(range(20000))


with DAG("xcom_values", schedule=None, default_args={"retries": 0}) as dag:

    @task
    def small():
        return {"a": 1, "when": "now"}

    @task
    def big_json():
        return {"rows": list(range(20000))}

    @task
    def binary():
        return b"\\x00\\x01" * 1_000_000

    @task
    def tupled():
        return tuple(range(1000))

    @task(multiple_outputs=True)
    def multi():
        return {"x": list(range(5000)), "y": 1}

    @task
    def consume(s, j, b, t, x, y, flaky_once=False):
        assert s == {"a": 1, "when": "now"}
        assert j == {"rows": list(range(20000))}
        assert b == b"\\x00\\x01" * 1_000_000
        assert t == tuple(range(1000)) and isinstance(t, tuple)
        assert x == list(range(5000)) and y == 1
        with open(WORK / "consumed", "a") as f:
            f.write("x")
        if flaky_once and not (WORK / "flaked").exists():
            (WORK / "flaked").touch()
            raise RuntimeError("first try fails; the retry must read the same upstream values")
        return "ok"

    m = multi()
    consume.override(retries=1, retry_delay=0)(small(), big_json(), binary(), tupled(), m["x"], m["y"], flaky_once=True)

    @task
    def chunk(i):
        return [i] * 1000

    @task
    def total(chunks):
        chunks = list(chunks)
        assert len(chunks) == 50 and all(c == [i] * 1000 for i, c in enumerate(chunks))
        return sum(sum(c) for c in chunks)

    total(chunk.expand(i=list(range(50))))

    checkpointed = ResultPythonOperator(task_id="checkpointed", python_callable=big_list, target="ckpt/{task_name}.pkl")

    @task
    def make_items():
        return [{"i": i, "pad": "x" * 200} for i in range(50)]

    @task
    def use_item(item):
        return item["i"]

    @task
    def check_items(values, items):
        assert list(values) == list(range(50))
        assert isinstance(items, list) and items == [{"i": i, "pad": "x" * 200} for i in range(50)]

    items = make_items()
    check_items(use_item.expand(item=items), items)

    @task
    def after_checkpoint(values):
        assert values == list(range(20000))

    after_checkpoint(checkpointed.output)


with DAG("xcom_bad", schedule=None, default_args={"retries": 0}) as bad:

    @task
    def unpicklable():
        return {"lock": threading.Lock(), "pad": "x" * 2000}

    @task
    def produce():
        return list(range(5000))

    @task
    def delete_payload():
        for path in (Path("__RESULTS__") / "xcom" / "xcom_bad" ).rglob("*"):
            if path.is_file() and "/produce/" in str(path) and not path.name.endswith(".meta.json"):
                path.unlink()

    @task
    def read_it(values):
        return len(values)

    unpicklable()
    p = produce()
    d = delete_payload()
    p >> d
    r = read_it(p)
    d >> r


with DAG("xcom_delete", schedule=None, default_args={"retries": 0}):

    @task
    def push_and_delete(ti=None):
        from airflow.sdk.execution_time.xcom import XCom

        ti.xcom_push(key="scratch", value={"rows": list(range(20000))})  # offloaded
        XCom.delete(key="scratch", dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index)

    push_and_delete()
"""


def run_steps(
    tmp_path: Path, results: Path, *steps: str, dag_file: Path | None = None, **env: str
) -> tuple[dict, str]:
    """Run ``steps`` of this module's DAGs (or of ``dag_file``) in a fresh process with the XCom backend."""
    if dag_file is None:
        dag_file = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "xcom_dags.py"  # dag.test needs it there
        dag_file.write_text(DAG.replace("__WORK__", str(tmp_path)).replace("__RESULTS__", str(results)))
    environment = airflow_env(
        AIRFLOW__CORE__XCOM_BACKEND=BACKEND,
        AIRFLOW__RESULTS__LOCAL_DIR=str(results),
        PYTHONPATH=str(ROOT),
        **env,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.xcom_dag_runner", str(dag_file), *steps],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT-JSON ")]
    assert proc.returncode == 0 and lines, output[-5000:]
    return json.loads(lines[-1].removeprefix("RESULT-JSON ")), output


def xcom_rows(dag_id: str, run_id: str, *, all_attempts: bool = False, per_attempt: bool = False) -> dict:
    """``{(task_id, map_index, key): value}`` of a run's XCom rows, read through Airflow's ``XComModel`` (the
    ``xcom`` table up to Airflow 3.3, the read projection over ``xcom_v1``/``xcom_v2`` from 3.4), of the current
    task attempts, or of every attempt with ``all_attempts``; ``per_attempt``: a list of values per key, oldest
    first."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_results_provider.index._airflow_xcom import ALL_ATTEMPTS, xcom_model

    model = xcom_model()
    statement = (
        select(model.task_id, model.map_index, model.key, model.value)
        .where(model.dag_id == dag_id, model.run_id == run_id)
        .order_by(model.timestamp)
    )
    with create_session() as session:
        rows = session.execute(statement.execution_options(**(ALL_ATTEMPTS if all_attempts else {}))).all()
    out: dict = {}
    for task, index, key, value in rows:  # the JSON column is decoded: the value the backend stored
        if per_attempt:
            out.setdefault((task, index, key), []).append(value)
        else:
            out[(task, index, key)] = value
    return out


def test_values_inline_offloaded_mapped_multiple_outputs_retries(airflow_db, airflow_home, tmp_path):
    results = tmp_path / "results"
    out, _log = run_steps(tmp_path, results, "run:xcom_values", "clear:xcom_values:big_json,consume")
    first, cleared = out["xcom_values"]
    assert set(first["states"].values()) == {"success"}, first["states"]
    assert (tmp_path / "consumed").read_text() == "xxx"  # failed try, retry, and the run after the clear
    assert set(cleared["states"].values()) == {"success"}

    rows = xcom_rows("xcom_values", first["run_id"])
    assert rows[("small", -1, "return_value")] == {
        "a": 1,
        "when": "now",
    }  # plain JSON, like the default backend
    big = rows[("big_json", -1, "return_value")]
    assert big["__airflow_result__"] == 1 and big["result"] == "LocalResult" and big["serializer"] == "json"
    assert big["python_type"] == "builtins.dict" and big["owner"] == "xcom" and len(big["sha256"]) == 64
    assert big["preview"].startswith("{'rows': [0, 1, 2") and len(big["preview"]) <= 500
    # .../big_json/[<attempt part>/]return_value.json: Airflow >= 3.4 may give an attempt its own location
    assert re.fullmatch(r"file://.*/big_json/([^/]+/)?return_value\.json", big["location"]), big["location"]
    binary = rows[("binary", -1, "return_value")]
    assert binary["serializer"] == "pickle" and binary["size"] > 2_000_000
    assert rows[("tupled", -1, "return_value")]["serializer"] == "pickle"  # a tuple is not strict JSON
    assert rows[("multi", -1, "x")]["__airflow_result__"] == 1 and rows[("multi", -1, "y")] == 1
    assert rows[("total", -1, "return_value")] == sum(i * 1000 for i in range(50))
    mapped = [rows[("chunk", i, "return_value")] for i in range(50)]
    assert all(
        m["map_index"] == i and re.fullmatch(rf".*/chunk/{i}/([^/]+/)?return_value\.json", m["location"])
        for i, m in enumerate(mapped)
    )
    assert len([p for p in payload_files(results) if "/chunk/" in p]) == 50

    # a list feeding mapped tasks is chunked; each map index loaded one chunk, the plain consumer all of them
    seq = rows[("make_items", -1, "return_value")]
    assert seq["kind"] == "sequence" and seq["length"] == 50 and len(seq["chunks"]) == 50
    assert _log.count("Loaded chunk") == 50 + 50  # 50 map indexes x 1 chunk + check_items x 50 chunks

    # the mixin's checkpoint is referenced, not written again
    ckpt = rows[("checkpointed", -1, "return_value")]
    assert (
        ckpt["owner"] == "checkpoint" and ckpt["location"] == (results / "ckpt" / "checkpointed.pkl").as_uri()
    )
    assert not any("/checkpointed/" in p for p in payload_files(results / "xcom"))

    # purge = never (default): clearing big_json kept its payload (it was rewritten in place, atomically)
    assert any("/big_json/" in p for p in payload_files(results / "xcom"))


def test_purge_on_clear_deletes_only_what_the_backend_wrote(airflow_db, airflow_home, tmp_path):
    results = tmp_path / "results"
    out, log = run_steps(
        tmp_path,
        results,
        "run:xcom_values",
        "clear:xcom_values:big_json,checkpointed",
        AIRFLOW__RESULTS__PURGE="on_clear",
    )
    first, cleared = out["xcom_values"]
    assert set(cleared["states"].values()) == {"success"}, cleared["states"]
    assert (results / "ckpt" / "checkpointed.pkl").exists()  # a checkpoint is never purged
    if not stores_per_attempt():  # Airflow < 3.4: the rerun deletes the cleared row through XCom.delete
        assert "Purged XCom payload" in log and "/big_json/return_value.json" in log
        return
    # Airflow >= 3.4 keeps a cleared attempt with its XCom rows (its history): no row is deleted, so nothing is
    # purged; the new attempt's value replaces the payload (docs/compatibility.md, "purge on clear").
    assert "Purged XCom payload" not in log, (
        "Airflow >= 3.4 now deletes a cleared attempt's XCom rows through XCom.delete: "
        "update docs/compatibility.md (purge on clear) and this test"
    )
    attempts = xcom_rows("xcom_values", first["run_id"], all_attempts=True, per_attempt=True)
    assert len(attempts[("big_json", -1, "return_value")]) == 2, (
        "Airflow >= 3.4 no longer keeps the cleared attempt's XCom row (docs/compatibility.md, purge on clear)"
    )


def test_xcom_delete_purges_on_every_airflow(airflow_db, airflow_home, tmp_path):
    """XCom.delete (task code; the runner before a rerun on Airflow < 3.4) deletes the row and purges the payload
    the backend wrote, on every supported Airflow."""
    results = tmp_path / "results"
    out, log = run_steps(tmp_path, results, "run:xcom_delete", AIRFLOW__RESULTS__PURGE="on_clear")
    assert out["xcom_delete"][0]["states"] == {"push_and_delete": "success"}, log[-3000:]
    assert "Purged XCom payload" in log and "/push_and_delete/scratch.json" in log, log[-3000:]
    assert not [p for p in payload_files(results) if "/push_and_delete/" in p]
    assert ("push_and_delete", -1, "scratch") not in xcom_rows("xcom_delete", out["xcom_delete"][0]["run_id"])


def test_bad_input_fails_the_task_with_a_clear_error(airflow_db, airflow_home, tmp_path):
    results = tmp_path / "results"
    out, log = run_steps(tmp_path, results, "run:xcom_bad")
    states = out["xcom_bad"][0]["states"]
    assert states["unpicklable"] == "failed"
    assert (
        "SerializationError" in log and "PickleSerializer (pickle)" in log and "xcom_bad.unpicklable" in log
    )
    assert states["produce"] == "success" and states["read_it"] == "failed"
    assert "ResultNotFoundError" in log and "task xcom_bad.produce, run " in log


def _row(results_root: Path, tmp_path: Path, airflow_home: Path, **env: str) -> dict:
    out, _ = run_steps(tmp_path, results_root, "run:xcom_values", **env)
    run_id = out["xcom_values"][0]["run_id"]
    return xcom_rows("xcom_values", run_id)[("big_json", -1, "return_value")]


def read_row(value, monkeypatch, **env):
    from airflow_results_provider import config
    from airflow_results_provider.xcom import ResultXComBackend

    for key, val in env.items():
        monkeypatch.setenv(key, val)
    config.clear_cache()
    return ResultXComBackend.deserialize_value(SimpleNamespace(value=value))


def test_tampering_is_detected_and_signed_envelopes_are_enforced(
    airflow_db, airflow_home, tmp_path, monkeypatch
):
    from airflow_results_provider.exceptions import ResultIntegrityError, ResultNotFoundError

    results = tmp_path / "results"
    envelope = _row(results, tmp_path, airflow_home, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11)
    assert "hmac" in envelope
    assert read_row(envelope, monkeypatch, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11) == {
        "rows": list(range(20000))
    }

    forged = dict(envelope, key="xcom/elsewhere.json")
    with pytest.raises(ResultIntegrityError, match="signing_key"):
        read_row(forged, monkeypatch, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11)
    unsigned = {k: v for k, v in envelope.items() if k != "hmac"}
    with pytest.raises(ResultIntegrityError, match="not a configured store"):
        read_row(unsigned, monkeypatch, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11)
    # With a signing key, unsigned envelopes are refused even in a configured store; the migration switch reads
    # them from a configured store only, and only when nothing would be unpickled.
    configured = {
        "AIRFLOW__RESULTS__SIGNING_KEY": "k3y" * 11,
        "AIRFLOW__RESULTS__XCOM_RESULT": envelope["store"],
    }
    with pytest.raises(ResultIntegrityError, match="allow_unsigned_envelopes"):
        read_row(unsigned, monkeypatch, **configured)
    migrating = {**configured, "AIRFLOW__RESULTS__ALLOW_UNSIGNED_ENVELOPES": "True"}
    assert read_row(unsigned, monkeypatch, **migrating) == {"rows": list(range(20000))}
    with pytest.raises(ResultIntegrityError, match="would be unpickled"):
        read_row(dict(unsigned, serializer="pickle"), monkeypatch, **migrating)

    path = Path(envelope["location"].removeprefix("file://"))
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ResultIntegrityError):
        read_row(envelope, monkeypatch, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11)
    path.unlink()
    with pytest.raises(ResultNotFoundError, match="task xcom_values.big_json, run manual__"):
        read_row(envelope, monkeypatch, AIRFLOW__RESULTS__SIGNING_KEY="k3y" * 11)


def test_rows_the_backend_did_not_write_pass_through(monkeypatch):
    assert read_row({"plain": [1, 2]}, monkeypatch) == {"plain": [1, 2]}
    assert read_row("https://example.com/link", monkeypatch) == "https://example.com/link"
    assert read_row(42, monkeypatch) == 42
    from airflow.sdk.serde import serialize

    assert read_row(serialize((1, 2)), monkeypatch) == (1, 2)


def test_common_io_references_are_read_through_common_io(tmp_path, monkeypatch):
    from airflow.providers.common.io.xcom import backend as common_io

    base = (tmp_path / "common-io").as_uri()
    monkeypatch.setenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH", base)
    monkeypatch.setenv("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD", "0")
    common_io._get_base_path.cache_clear()
    common_io._get_threshold.cache_clear()
    try:
        stored = common_io.XComObjectStorageBackend.serialize_value(
            {"from": "common-io"}, dag_id="d", run_id="r", task_id="t"
        )
        assert isinstance(stored, str) and stored.startswith(base)  # a path string, as common-io stores it
        assert read_row(stored, monkeypatch) == {"from": "common-io"}
        assert read_row(base.replace("common-io", "elsewhere") + "/x.json", monkeypatch).endswith("/x.json")
    finally:
        common_io._get_base_path.cache_clear()
        common_io._get_threshold.cache_clear()


def test_orjson_payloads_skip_the_long_integer_scan_and_long_integers_stay_exact(tmp_path, monkeypatch):
    from airflow_results_provider import config
    from airflow_results_provider.exceptions import ResultIntegrityError
    from airflow_results_provider.xcom import ResultXComBackend

    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", (tmp_path / "store").as_uri())
    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_INLINE_THRESHOLD", "0")
    monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", "k3y" * 11)
    ident = {"key": "return_value", "dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1}

    def offload(value, serializer="auto"):
        monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_SERIALIZER", serializer)
        config.clear_cache()
        return ResultXComBackend.serialize_value(value, **ident)

    ints = [*range(1000), 2**64 - 1, -(2**63)]  # the ends of what orjson reads back as ints
    envelope = offload(ints)
    assert envelope["serializer"] == "json" and envelope["json_codec"] == "orjson"
    assert read_row(envelope, monkeypatch) == ints
    # Beyond 64 bits orjson refuses to encode: auto pickles, json goes through the standard library and is
    # read back with the scan (no json_codec), so the integer stays an int.
    long = [1, 2**70, -(2**90)]
    assert "json_codec" not in offload(long)
    as_json = offload(long, "json")
    assert as_json["serializer"] == "json" and "json_codec" not in as_json
    assert read_row(as_json, monkeypatch) == long
    assert all(type(x) is int for x in read_row(as_json, monkeypatch))
    # The marker is covered by the envelope's signature like every other field.
    with pytest.raises(ResultIntegrityError, match="signing_key"):
        read_row(dict(as_json, json_codec="orjson"), monkeypatch)
