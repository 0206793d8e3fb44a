"""Run DAGs with dag.test() in this process; also clear tasks of a run and resume it like a scheduler.

Importing this module changes no environment (unlike tests/conftest.py), so subprocess runners use it too.
"""

from __future__ import annotations

import functools
from pathlib import Path


def reuse_in_process_execution_api() -> None:
    """Give every ``dag.test()`` task of this process one in-process Execution API, as Airflow >= 3.3 does.

    Airflow 3.2's ``in_process_api_server()`` builds a new FastAPI app (cadwyn generates every versioned router)
    and starts a new event-loop thread that never stops, for each task instance: on the floor leg a 50-way
    mapped DAG took > 25 minutes, each task slower than the one before. Airflow 3.3 caches it
    (``functools.lru_cache(maxsize=1)``); this applies the same cache where it is missing.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


class DagRunner:
    """Write DAG files into the session's dags folder and run them with ``dag.test()`` in this process."""

    def __init__(self, dags_folder: Path) -> None:
        self.dags_folder = dags_folder

    def load(self, source: str, dag_id: str, **substitutions: object):
        """Write ``source`` (``__NAME__`` placeholders substituted) as ``<dag_id>.py`` and parse it."""
        from airflow.dag_processing.dagbag import DagBag

        for key, value in substitutions.items():
            source = source.replace(f"__{key.upper()}__", str(value))
        path = self.dags_folder / f"{dag_id}.py"
        path.write_text(source)
        bag = DagBag(dag_folder=str(path))
        assert not bag.import_errors, bag.import_errors
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"{dag_id} not in {list(bag.dags)}"
        return dag

    def run(self, dag, **kwargs):
        """One DAG run; returns ``(dag_run, {task_id or (task_id, map_index): state})``."""
        reuse_in_process_execution_api()
        run = dag.test(**kwargs)
        return run, self.states(run)

    @staticmethod
    def states(run) -> dict:
        from airflow.utils.session import create_session

        with create_session() as session:
            run = session.merge(run)
            out = {}
            for ti in run.get_task_instances(session=session):
                key = ti.task_id if ti.map_index < 0 else (ti.task_id, ti.map_index)
                out[key] = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
            return out

    def clear_and_resume(self, dag, run, task_ids: list[str]):
        """Clear ``task_ids`` in ``run`` (same run id) and run what is left, as a scheduler would."""
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import clear_task_instances
        from airflow.serialization.serialized_objects import DagSerialization
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState

        with create_session() as session:
            dr = session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one()
            dr.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
            tis = [ti for ti in dr.get_task_instances(session=session) if ti.task_id in task_ids]
            clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
            session.commit()
        return self.resume(dag, run)

    def resume(self, dag, run):
        """Run what is left of ``run`` as a scheduler would, e.g. after a clear made through the REST API (a
        run it left queued is started first)."""
        from airflow.models.dagrun import DagRun
        from airflow.sdk.definitions.dag import _run_task
        from airflow.serialization.serialized_objects import DagSerialization
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState, TaskInstanceState

        reuse_in_process_execution_api()
        with create_session() as session:
            dr = session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one()
            dr.dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
            if dr.state == DagRunState.QUEUED:
                dr.state = DagRunState.RUNNING
                session.commit()
            while dr.state == DagRunState.RUNNING:
                session.expire_all()
                schedulable, _ = dr.update_state(session=session)
                for ti in schedulable:
                    ti.try_number += 1
                    ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                scheduled = [
                    ti
                    for ti in dr.get_task_instances(session=session)
                    if ti.state == TaskInstanceState.SCHEDULED
                ]
                if not scheduled and dr.state == DagRunState.RUNNING:
                    raise AssertionError(f"run stuck: {self.states(dr)}")
                for ti in scheduled:
                    try:
                        _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
                    except Exception:  # dag.test logs and goes on; states tell the outcome
                        pass
        return dr, self.states(dr)
