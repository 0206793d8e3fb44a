"""The one place that knows how each supported Airflow stores XCom rows (docs/compatibility.md).

Everything the index, gc, rm and the tests do to XCom rows goes through :func:`xcom_model` (reads: the columns
``dag_id``, ``run_id``, ``task_id``, ``map_index``, ``key``, ``value``, ``timestamp``) and :func:`delete_rows`
(deletes), never through a table name:

- Airflow 3.2 and 3.3: ``XComModel`` maps the ``xcom`` table; a row is deleted with ``delete(XComModel)``.
- Airflow >= 3.4: the rows live in ``xcom_v1`` (before 3.4) and ``xcom_v2`` (one per task attempt, keyed by the
  attempt's UUID); ``XComModel`` is a read-only projection over both, and rows are deleted with
  ``XComModel.delete_for_attempts(producer_ids=select_producers(...), key=...)``, as Airflow's own clear does.
  A cleared task keeps its earlier attempts (archived) with their XCom rows; Airflow's ORM hides them unless a
  statement asks for ``include_all_attempts``.

Airflow is imported inside functions only (importing the index stays cheap).
"""

from __future__ import annotations

from typing import Any

#: The execution option with which Airflow >= 3.4 includes archived task attempts (and their XCom rows) in an
#: ORM statement; older versions ignore it (they keep no attempts).
ALL_ATTEMPTS = {"include_all_attempts": True}


def xcom_model() -> Any:
    """Airflow's ``XComModel``: the mapped table (3.2, 3.3) or the read projection over both stores (3.4)."""
    from airflow.models.xcom import XComModel

    return XComModel


def stores_per_attempt() -> bool:
    """Whether this Airflow keeps XCom rows per task attempt (>= 3.4: ``XComModel.delete_for_attempts``)."""
    return hasattr(xcom_model(), "delete_for_attempts")


def delete_rows(
    session: Any, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str | None
) -> None:
    """Delete the XCom rows of one task instance (of ``key`` only, unless ``None``), of every attempt.

    Nothing is purged from an XCom backend here (the index deletes payloads itself)."""
    from sqlalchemy import delete

    model = xcom_model()
    if stores_per_attempt():
        from airflow.models.xcom import select_producers

        producers = select_producers(dag_ids=dag_id, task_ids=task_id, run_id=run_id, map_indexes=map_index)
        # (delete_for_attempts runs with include_all_attempts: archived attempts' rows go too)
        model.delete_for_attempts(producer_ids=producers, key=key, session=session)
        return
    statement = delete(model).where(
        model.dag_id == dag_id,
        model.run_id == run_id,
        model.task_id == task_id,
        model.map_index == map_index,
    )
    if key is not None:
        statement = statement.where(model.key == key)
    session.execute(statement)
