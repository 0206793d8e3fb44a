"""The package must stay cheap to import: every Airflow component may import it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("pandas", "pyarrow", "numpy", "boto3", "botocore", "google", "azure", "airflow.providers")

PROBE = """
import json, sys
{imports}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(imports: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "imports",
    [
        "import airflow_results_provider",
        "from airflow_results_provider import LocalResult, PrefectResult, InlineResult, ConstantResult",
        "from airflow_results_provider.serializers import PandasSerializer, CompressedSerializer",
        "from airflow_results_provider import LocalResult; LocalResult(dir='/tmp').format(task_name='t')",
    ],
)
def test_no_heavy_imports(imports):
    # site-packages .pth files (e.g. google's namespace packages) load modules at interpreter start: not ours
    baseline = set(loaded_modules("pass"))
    modules = [m for m in loaded_modules(imports) if m not in baseline]
    heavy = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert heavy == [], f"{imports!r} imported {heavy}"


def test_top_level_package_does_not_import_airflow():
    modules = loaded_modules("import airflow_results_provider")
    assert "airflow" not in modules


def test_public_names_resolve_lazily():
    import airflow_results_provider as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    from airflow_results_provider import LocalResult, PrefectResult
    from airflow_results_provider.results import InlineResult

    assert PrefectResult is InlineResult
    assert LocalResult.__module__ == "airflow_results_provider.results.local_result"
    with pytest.raises(AttributeError):
        pkg.NoSuchThing  # noqa: B018


def test_xcom_backend_module_adds_only_our_small_modules():
    probe = (
        "import json, sys\n"
        "import airflow.sdk.bases.xcom\n"
        "before = set(sys.modules)\n"
        "import airflow_results_provider.xcom\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    added = json.loads(proc.stdout.strip().splitlines()[-1])
    assert added and all(m.startswith("airflow_results_provider") for m in added), added
    assert len(added) <= 6, added
