"""The Results plugin under `airflow standalone` (behind an [api] base_url with a path, two users, the XCom
backend on): its JSON API with auth, `/api/v2/plugins`, the "Result" link, and the pages in headless Chromium
(screenshots for docs/ui.md when RESULTS_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_results_provider.index.references import detach
from tests.conftest import ROOT
from tests.e2e.conftest import REQUEST_TIMEOUT, XCOM_BACKEND

pytestmark = pytest.mark.airflow

BASE_PATH = "/airflow"
PASSWORDS = {"admin": "admin-pw", "outsider": "outsider-pw"}
SOURCE = textwrap.dedent(
    """
    from airflow.sdk import DAG, task
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow_results_provider import JSONSerializer, LocalResult, ResultMixin


    class ResultPythonOperator(ResultMixin, PythonOperator):
        pass


    def report():
        return {"rows": list(range(5)), "api_key": "hunter2", "status": "all good"}


    def text():
        return "the quick brown fox"


    def square(i):
        return i * i


    with DAG("results_ui", schedule=None) as dag:
        ResultPythonOperator(task_id="report", python_callable=report, result=LocalResult(serializer=JSONSerializer()))
        ResultPythonOperator(task_id="cached", python_callable=text, target="ui/target.pkl")
        ResultPythonOperator.partial(task_id="mapped", python_callable=square).expand(op_args=[[1], [2], [3]])

        @task
        def offloaded():
            return {"blob": "x" * 4000, "n": 42}

        offloaded()

    """
)
SECRET_SOURCE = textwrap.dedent(
    """
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow_results_provider import ResultMixin


    class ResultPythonOperator(ResultMixin, PythonOperator):
        pass


    with DAG("results_secret", schedule=None) as secret:
        ResultPythonOperator(task_id="hidden", python_callable=lambda: {"team": "b"})
    """
)
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@pytest.fixture(scope="module")
def airflow(standalone_factory, tmp_path_factory):
    home = tmp_path_factory.mktemp("auth")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    secret_dags = home / "secret_dags"
    secret_dags.mkdir()
    # Multi-team mode: results_secret lives in team_b's bundle; "outsider" is only in team_a.
    bundles = [
        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
        {
            "name": "secret",
            "classpath": LOCAL_BUNDLE,
            "kwargs": {"path": str(secret_dags)},
            "team_name": "team_b",
        },
    ]

    def prepare(instance) -> None:
        airflow_cli = str(Path(sys.executable).with_name("airflow"))
        # `airflow teams create`, not Team rows: Airflow >= 3.4 also gives each team its default pool, without
        # which the scheduler never schedules the team's tasks
        for command in (
            [airflow_cli, "db", "migrate"],
            [airflow_cli, "teams", "create", "team_a"],
            [airflow_cli, "teams", "create", "team_b"],
        ):
            proc = subprocess.run(
                command,
                env=instance.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr

    instance = standalone_factory(
        base_path=BASE_PATH,
        prepare=prepare,
        AIRFLOW__CORE__MULTI_TEAM="True",
        # Airflow caches a DAG's team for 30 s, also "no team" from polls made before the DAG was parsed.
        AIRFLOW__CORE__TEAM_NAME_CACHE_TTL="1",
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin:team_a|team_b,outsider:viewer:team_a",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__CORE__XCOM_BACKEND=XCOM_BACKEND,
        AIRFLOW__RESULTS__UI_LOAD_PREVIEW="True",
    )
    instance.token = token(instance, "admin")
    # A value already at the target: the "cached" task finds it instead of running.
    from airflow_results_provider import LocalResult

    LocalResult(dir=str(instance.results), location="ui/target.pkl").write("found at the target")
    dag_file = home / "results_ui.py"
    dag_file.write_text(SOURCE)
    instance.add_dag(dag_file, "results_ui")
    (secret_dags / "results_secret.py").write_text(SECRET_SOURCE)
    instance.add_dag(dag_file, "results_secret")  # waits for it (results_ui.py is already there)
    instance.runs = {dag_id: instance.run_dag(dag_id) for dag_id in ("results_ui", "results_secret")}
    for dag_id, run in instance.runs.items():
        if run["state"] != "success":
            pytest.fail(instance.failure_report(dag_id, run["dag_run_id"]), pytrace=False)
    return instance


def token(airflow, user: str) -> str:
    req = urllib.request.Request(
        f"{airflow.base}/auth/token",
        data=json.dumps({"username": user, "password": PASSWORDS[user]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
        return json.loads(response.read())["access_token"]


def status(airflow, path: str, user: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token(airflow, user)}"} if user else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(airflow.base + path, headers=headers), timeout=REQUEST_TIMEOUT
        ) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_api_lists_and_details_with_auth(airflow):
    run_id = airflow.runs["results_ui"]["dag_run_id"]
    listing = airflow.get("/results/api/results?limit=200")
    mine = {
        (r["task_id"], r["map_index"], r["owner"]) for r in listing["results"] if r["dag_id"] == "results_ui"
    }
    assert mine == {
        ("report", -1, "checkpoint"),
        ("cached", -1, "target"),
        ("mapped", 0, "checkpoint"),
        ("mapped", 1, "checkpoint"),
        ("mapped", 2, "checkpoint"),
        ("offloaded", -1, "xcom"),
    }, listing
    assert all(r["verified"] and r["exists"] for r in listing["results"])
    assert any(r["dag_id"] == "results_secret" for r in listing["results"])

    detail = airflow.get(
        f"/results/api/results/results_ui/{quote(run_id, safe='')}/report/-1/_link_ResultLink"
    )
    assert detail["serializer"] == "json" and detail["python_type"] == "builtins.dict"
    assert detail["preview_data"]["data"]["api_key"] == "***"
    assert detail["value"]["api_key"] == "***" and detail["value"]["status"] == "all good"  # ui_load_preview
    offloaded = airflow.get(
        f"/results/api/results/results_ui/{quote(run_id, safe='')}/offloaded/-1/return_value"
    )
    assert offloaded["owner"] == "xcom" and offloaded["preview_data"]["data"]["n"] == 42

    # 401 without a token, on every route; the outsider sees no results_secret and gets 403 for it.
    secret_run = quote(airflow.runs["results_secret"]["dag_run_id"], safe="")
    for path in (
        "/results/",
        "/results/api/results",
        f"/results/api/results/results_ui/{quote(run_id, safe='')}/report/-1/_link_ResultLink",
        f"/results/ti/results_ui/{quote(run_id, safe='')}/report/{{MAP_INDEX}}",
        f"/results/run/results_ui/{quote(run_id, safe='')}",
    ):
        assert status(airflow, path, None)[0] == 401, path
    code, body = status(airflow, "/results/api/results?limit=200", "outsider")
    assert code == 200
    dags = {r["dag_id"] for r in json.loads(body)["results"]}
    assert "results_ui" in dags and "results_secret" not in dags
    for path in (
        f"/results/api/results/results_secret/{secret_run}/hidden/-1/_link_ResultLink",
        f"/results/ti/results_secret/{secret_run}/hidden/-1",
        f"/results/run/results_secret/{secret_run}",
    ):
        assert status(airflow, path, "outsider")[0] == 403, path
        assert status(airflow, path, "admin")[0] == 200, path


def test_plugins_endpoint_lists_every_view(airflow):
    plugins = {p["name"]: p for p in airflow.get("/api/v2/plugins")["plugins"]}
    plugin = plugins["results"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/results"]
    views = {(v["destination"], v["url_route"]): v["href"] for v in plugin["external_views"]}
    root = f"{BASE_PATH}/results"
    assert views == {
        ("nav", "results"): f"{root}/",
        ("task_instance", "result"): f"{root}/ti/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}/{{MAP_INDEX}}",
        ("dag_run", "run-results"): f"{root}/run/{{DAG_ID}}/{{RUN_ID}}",
    }
    assert airflow.get("/api/v2/importErrors")["total_entries"] == 0


def test_result_link_is_same_origin(airflow):
    run_id = airflow.runs["results_ui"]["dag_run_id"]
    links = airflow.get(
        f"/api/v2/dags/results_ui/dagRuns/{quote(run_id, safe='')}/taskInstances/report/links"
    )
    url, ref = detach(links["extra_links"]["Result"])
    assert url == f"{BASE_PATH}/dags/results_ui/runs/{quote(run_id, safe='')}/tasks/report/plugin/result"
    assert ref["owner"] == "checkpoint" and ref["hmac"]


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromium-driver are missing: run scripts/bootstrap.sh")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(driver, name: str, tmp_path: Path) -> None:
    target = ROOT / "docs" / "images" if os.environ.get("RESULTS_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(target / f"{name}.png"))


def in_plugin_frame(driver, wait, text: str) -> str:
    """Switch into the plugin's iframe once it shows ``text``; returns its text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.switch_to.default_content()
    wait.until(ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
    wait.until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)
    body = driver.find_element(By.TAG_NAME, "body").text
    driver.switch_to.default_content()
    return body


def test_pages_in_chromium(airflow, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    run_id = quote(airflow.runs["results_ui"]["dag_run_id"], safe="")
    # Log in through the simple auth manager's form.
    browser.get(f"{airflow.base}/")
    wait.until(lambda d: d.find_elements(By.NAME, "username"))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORDS["admin"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: d.get_cookie("_token"))

    # Browse -> Results.
    browser.get(f"{airflow.base}/plugin/results")
    body = in_plugin_frame(browser, wait, "results_ui")
    assert "XCom backend" in body and "target hit" in body and "results_secret" in body
    shot(browser, "ui-results-page", tmp_path)

    # A task instance's Result tab: the JSON preview, masked.
    browser.get(f"{airflow.base}/dags/results_ui/runs/{run_id}/tasks/report/plugin/result")
    body = in_plugin_frame(browser, wait, "return value: checkpoint")
    assert '"all good"' in body and '"***"' in body and "hunter2" not in body
    shot(browser, "ui-task-instance-tab", tmp_path)

    # A DAG run's Results tab.
    browser.get(f"{airflow.base}/dags/results_ui/runs/{run_id}/plugin/run-results")
    body = in_plugin_frame(browser, wait, "mapped")
    assert "offloaded" in body and "cached" in body
    shot(browser, "ui-dag-run-tab", tmp_path)

    # The visible "Result" extra link (Details tab): same origin, so the UI shows it.
    browser.get(f"{airflow.base}/dags/results_ui/runs/{run_id}/tasks/report/details")
    link = wait.until(
        lambda d: next(
            (e for e in d.find_elements(By.CSS_SELECTOR, "a[href*='result-ref=']") if e.is_displayed()), None
        )
    )
    assert link.text.strip() == "Result" and "/plugin/result#result-ref=" in link.get_attribute("href")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
    shot(browser, "ui-result-link", tmp_path)
