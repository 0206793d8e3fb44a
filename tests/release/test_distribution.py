"""The distribution users install: ``uv build`` gives an sdist and a wheel that ``twine check`` accepts, the
wheel holds only the package, and the wheel (not the checkout) installed with every extra into a clean
virtualenv runs a smoke DAG with ResultMixin, ``@task.result`` and the Result XCom backend.

One virtualenv with all extras (amazon, google, azure, pandas, compression) at once: installing them one by one
would cost five Airflow installs; together they show the extras resolve side by side with the pinned versions
of requirements/constraints.txt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+: the release checks run in the main .venv

pytestmark = pytest.mark.release

UV = Path(sys.executable).with_name("uv")
VERSION = __import__("airflow_results_provider").__version__
EXTRAS = ("amazon", "google", "azure", "pandas", "compression")
# what each extra is for: the hooks of the cloud Results, and the pandas and compression serializers' libraries
EXTRA_IMPORTS = """
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.providers.microsoft.azure.hooks.wasb import WasbHook
import pandas, pyarrow, zstandard, lz4.frame
"""


def run(*cmd: str | Path, timeout: int = 900, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(UV, "build", "--quiet", "--out-dir", out, ROOT)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def project() -> dict:
    """pyproject.toml's [project] table."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_wheel_holds_the_package_only(dist):
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {
        "airflow_results_provider",
        f"airflow_results_provider-{VERSION}.dist-info",
    }, top
    assert not [n for n in names if "/tests/" in n or "/bench/" in n or n.split("/")[-1].startswith("test_")]
    assert "airflow_results_provider/get_provider_info.py" in names
    metadata = zipfile.ZipFile(dist["wheel"]).read(
        f"airflow_results_provider-{VERSION}.dist-info/entry_points.txt"
    )
    assert b"apache_airflow_provider" in metadata


def test_sdist_builds_the_same_version(dist):
    with tarfile.open(dist["sdist"]) as sdist:
        names = sdist.getnames()
    root = f"airflow_results_provider-{VERSION}"
    assert f"{root}/pyproject.toml" in names and f"{root}/airflow_results_provider/__init__.py" in names


def test_twine_check(dist):
    proc = run(Path(sys.executable).with_name("twine"), "check", "--strict", dist["wheel"], dist["sdist"])
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_provider_info_versions_and_docs_url():
    from airflow_results_provider import __version__
    from airflow_results_provider.get_provider_info import get_provider_info

    info = get_provider_info()
    assert __version__ == info["versions"][0]
    assert info["documentation-url"] == project()["urls"]["Documentation"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {__version__}" in changelog


def test_wheel_with_every_extra_runs_a_smoke_dag(dist, tmp_path: Path):
    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    spec = f"{dist['wheel']}[{','.join(EXTRAS)}]"
    run(
        UV, "pip", "install", "--quiet", "--python", python, "-c", ROOT / "requirements/constraints.txt", spec
    )

    home = tmp_path / "airflow-home"
    (home / "dags").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__XCOM_BACKEND="airflow_results_provider.xcom.ResultXComBackend",
        AIRFLOW__RESULTS__XCOM_RESULT=f"file://{work / 'xcom'}",
        AIRFLOW__RESULTS__LOCAL_DIR=str(work / "results"),
    )
    # cwd outside the checkout, so nothing can import airflow_results_provider from it
    run(venv / "bin" / "airflow", "db", "migrate", env=env, cwd=work)
    run(python, "-c", EXTRA_IMPORTS, env=env, cwd=work)
    proc = run(
        python,
        Path(__file__).with_name("smoke_dag.py"),
        work,
        project()["urls"]["Documentation"],
        env=env,
        cwd=work,
    )
    assert "SMOKE-OK" in proc.stdout, proc.stdout[-4000:]
