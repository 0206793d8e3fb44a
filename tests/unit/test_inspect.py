"""The Results index without a DB: references in link URLs, records from rows (untrusted), structured previews."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from airflow_results_provider import index
from airflow_results_provider.core.preview import structured_preview
from airflow_results_provider.index import references as _result_ref
from airflow_results_provider.results.local_result import LocalResult

KEY = b"k" * 32
IDENTITY = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1}


@pytest.fixture
def written(tmp_path):
    return LocalResult(dir=str(tmp_path), location="d/t.pkl").write({"a": 1, "password": "p"})


def link_value(written, identity=IDENTITY, key=KEY) -> str:
    ref = _result_ref.build_reference(written, "checkpoint")
    url = _result_ref.ti_tab_url("/base", identity["dag_id"], identity["run_id"], identity["task_id"], -1)
    return json.dumps(_result_ref.attach(url, _result_ref.sign_reference(ref, identity, key)))


def test_the_link_row_is_a_verified_record(written, tmp_path):
    value = link_value(written)
    url, _ = _result_ref.detach(json.loads(value))
    assert url == "/base/dags/d/runs/r/tasks/t/plugin/result"
    record = index.record_from_row("d", "r", "t", -1, index.LINK_KEY, value, signing_key=KEY)
    assert record.verified and record.owner == "checkpoint" and record.url is None
    assert record.location == (tmp_path / "d" / "t.pkl").as_uri() and record.size == written.metadata["size"]
    assert index.read_metadata(record)["preview_data"] == {
        "kind": "json",
        "data": {"a": 1, "password": "***"},
    }
    index.check_exists([record])
    assert record.exists is True


@pytest.mark.parametrize(
    "row",
    [
        ("other_dag", "r", "t", -1),  # copied to another task instance
        ("d", "r", "t", 3),  # ... or another map index
    ],
)
def test_copied_or_forged_rows_are_unverified_and_never_touch_the_store(written, row):
    record = index.record_from_row(*row, index.LINK_KEY, link_value(written), signing_key=KEY)
    assert not record.verified
    assert index.result_for(record) is None and index.read_metadata(record) is None
    assert not index.deletable(record, include_checkpoints=True)
    forged = link_value(written, key=b"x" * 32)
    assert not index.record_from_row("d", "r", "t", -1, index.LINK_KEY, forged, signing_key=KEY).verified


def test_rows_that_are_not_results_are_skipped():
    assert index.record_from_row("d", "r", "t", -1, "return_value", json.dumps({"n": 1})) is None
    assert index.record_from_row("d", "r", "t", -1, index.LINK_KEY, json.dumps("https://x")) is None
    assert index.record_from_row("d", "r", "t", -1, index.LINK_KEY, json.dumps("/a#result-ref=!!")) is None


def test_structured_previews():
    assert structured_preview({"token": "s", "rows": list(range(30))})["data"]["token"] == "***"
    assert structured_preview({"rows": list(range(30))})["data"]["rows"][-1] == "… 10 more items"
    assert structured_preview("abc") == {"kind": "text", "text": "abc", "length": 3}
    assert structured_preview(b"\x00\xff") == {"kind": "hex", "hex": "00ff", "size": 2}
    assert structured_preview({1: 2}) is None and structured_preview(object()) is None
    pandas = pytest.importorskip("pandas")
    table = structured_preview(pandas.DataFrame({"x": [1, 2], "api_key": ["a", "b"]}))
    assert table["shape"] == [2, 2] and table["dtypes"][0] == "int64"
    assert table["rows"] == [["1", "***"], ["2", "***"]]


def test_store_listing_sees_payloads_with_sidecars(written, tmp_path):
    (tmp_path / "stray.txt").write_text("not a result")
    assert [o.location for o in LocalResult(dir=str(tmp_path)).list_payloads()] == ["d/t.pkl"]


def test_parse_age():
    assert index.parse_age("30d") == dt.timedelta(days=30)
    assert index.parse_age("2w") == dt.timedelta(weeks=2)
    with pytest.raises(ValueError, match="30d"):
        index.parse_age("soon")


TRAPPED: list[str] = []


def trap() -> None:
    """Stands for ``os:abort``: a store spec that, if imported and called, runs code of the row writer's choice."""
    TRAPPED.append("called")


def test_gc_never_imports_a_store_named_by_a_row():
    # Found under pytest-xdist: forged rows of the security tests (store "os:abort") were in the DB when
    # `airflow results gc` ran, and it aborted the process resolving their store.
    from airflow_results_provider.index import store_aliases as _store_aliases

    TRAPPED.clear()
    assert _store_aliases(f"{__name__}:trap") == {f"{__name__}:trap"}
    assert _store_aliases(f"{__name__}:trap://x") == {f"{__name__}:trap://x"}  # a "scheme" with a colon
    assert TRAPPED == []
    _store_aliases(f"{__name__}:trap", from_row=False)  # what the operator names with --store is resolved
    assert TRAPPED == ["called"]
