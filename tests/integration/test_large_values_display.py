"""Large TaskFlow values through ResultMixin operators: the task gets the whole value, while Airflow's rendered
fields and return-value log get an abridged stand-in (masked like the real value would be)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

DAG_SOURCE = """
from pathlib import Path
from airflow.sdk import DAG, task

WORK = Path("__WORK__")
N = __N__

with DAG("large_values_display", schedule=None, default_args={"retries": 0}):
    @task.result
    def produce():
        return list(range(N))

    @task.result
    def consume(values, config):
        (WORK / "got").write_text(repr((len(values), sum(values), values[-1], config["password"])))
        return len(values)

    @task.result
    def small(values):
        return values

    @task
    def plain_consume(values):
        return len(values)

    produced = produce()
    consume(produced, {"password": "hunter2-" + "x" * 5000, "rows": list(range(3000))})
    small([1, 2, 3])
    plain_consume(produced)
"""


def rendered_fields(run) -> dict[str, dict]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session

    # RTIF.get_templated_fields, not RTIF columns: Airflow 3.4 stores rendered fields per task attempt
    with create_session() as session:
        run = session.merge(run)
        out = {}
        for ti in run.get_task_instances(session=session):
            fields = RTIF.get_templated_fields(ti, session=session)
            if fields is not None:
                out[ti.task_id] = dict(fields)
        return out


def test_large_arguments_reach_the_task_whole_and_airflow_displays_them_abridged(
    dag_runner, results_dir, tmp_path: Path, capfd
):
    n = 200_000
    dag = dag_runner.load(DAG_SOURCE, "large_values_display", work=tmp_path, n=n)
    run, states = dag_runner.run(dag)
    assert set(states.values()) == {"success"}, states
    # The callable saw the real value, every item, and the real (unmasked) secret.
    assert (tmp_path / "got").read_text() == repr((n, n * (n - 1) // 2, n - 1, "hunter2-" + "x" * 5000))

    fields = rendered_fields(run)
    shown = json.dumps(fields["consume"]["op_args"])
    assert len(shown) < 10_000
    assert f"{n - 400:,}" not in shown and "more items" in shown  # abridged, saying how much is left out
    assert "0, 1, 2, 3" in shown
    # Airflow's masker still masks the sensitive key it sees in the (abridged) structure.
    assert "hunter2" not in shown and "***" in shown
    # Small values are displayed exactly as Airflow displays them for any operator.
    assert fields["small"]["op_args"] == "[[1, 2, 3]]" or fields["small"]["op_args"] == [[1, 2, 3]]
    # A plain @task (not a ResultMixin operator) is left to Airflow.
    assert "more items" not in json.dumps(fields["plain_consume"])

    logs = capfd.readouterr()
    text = logs.out + logs.err
    assert "Returned value was (abridged)" in text and "more items" in text
    assert str(list(range(n))[:3000])[:-1] not in text  # the full repr was never logged
