"""The documentation site builds with ``mkdocs build --strict`` (every warning fails: broken internal links and
anchors included), holds the generated configuration reference and the API reference, and a broken link in a
copy of the docs fails the strict build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.release

MKDOCS = Path(sys.executable).with_name("mkdocs")


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=config.parent,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's end-of-life banner
    )


def copy_docs(dest: Path) -> Path:
    """docs/, mkdocs.yml and CHANGELOG.md in ``dest`` (the package is found through the installed checkout)."""
    shutil.copytree(ROOT / "docs", dest / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "CHANGELOG.md"):
        shutil.copy(ROOT / name, dest / name)
    (dest / "airflow_results_provider").symlink_to(ROOT / "airflow_results_provider")
    return dest / "mkdocs.yml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def text(page: Path) -> str:
    return re.sub(r"<[^>]+>", "", page.read_text())


def test_strict_build_has_every_page(site: Path):
    for page in (
        "index.html",
        "checkpointing/index.html",
        "configuration/index.html",
        "api/index.html",
        "changelog/index.html",
    ):
        assert (site / page).is_file(), page


def test_configuration_reference_is_generated_from_the_provider(site: Path):
    from airflow_results_provider.get_provider_info import RESULTS_CONFIG_OPTIONS

    page = text(site / "configuration" / "index.html")
    assert "results-config-options" not in page
    for name, option in RESULTS_CONFIG_OPTIONS.items():
        assert f"AIRFLOW__RESULTS__{name.upper()}" in page, name
        assert (site / "configuration" / "index.html").read_text().count(f'id="{name}"') == 1, name
        first_words = " ".join(option["description"].replace("``", "").split()[:4])
        assert first_words in page, (name, first_words)


def test_api_reference_documents_the_public_names(site: Path):
    page = text(site / "api" / "index.html")
    for name in (
        "ResultMixin",
        "LocalResult",
        "InlineResult",
        "S3Result",
        "GCSResult",
        "AzureResult",
        "ObjectStorageResult",
        "JSONSerializer",
        "CompressedSerializer",
        "Loop",
        "ResultNotFoundError",
        "LocationTemplateError",
        "ResultXComBackend",
        "duration_only",
        "all_inputs",
    ):
        assert name in page, name


def test_a_broken_internal_link_fails_the_strict_build(tmp_path: Path):
    config = copy_docs(tmp_path)
    index = tmp_path / "docs" / "index.md"
    source = index.read_text()
    assert "(results.md)" in source
    index.write_text(source.replace("(results.md)", "(no-such-page.md)", 1))
    proc = build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stdout + proc.stderr


def test_a_broken_anchor_fails_the_strict_build(tmp_path: Path):
    config = copy_docs(tmp_path)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text().replace("(configuration.md)", "(configuration.md#no-such-option)", 1))
    proc = build(config, tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-option" in proc.stdout + proc.stderr
