"""mkdocs hook: pages generated from their one source of truth.

- ``configuration.md``: the ``<!-- results-config-options -->`` marker becomes the reference of every
  ``[results]`` option, rendered from the provider's own definitions (``get_provider_info()["config"]``, the
  same data Airflow registers, so ``airflow config list`` and these docs cannot disagree).
- ``changelog.md``: ``CHANGELOG.md`` of the repository root.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

CONFIG_MARKER = "<!-- results-config-options -->"
CONFIG_PAGE = "configuration.md"


def _value(text: str | None, empty: str = "empty") -> str:
    if text is None:
        return "—"
    return f"`{text}`" if text != "" else empty


def render_config_reference() -> str:
    """Markdown for every option of the provider's ``[results]`` section, in definition order."""
    from airflow_results_provider.get_provider_info import get_provider_info

    sections = get_provider_info()["config"]
    out: list[str] = []
    for section, spec in sections.items():
        out += [f"## `[{section}]`", "", spec["description"], ""]
        out += ["| option | type | default | environment variable |", "|---|---|---|---|"]
        for name, opt in spec["options"].items():
            env = f"AIRFLOW__{section.upper()}__{name.upper()}"
            out.append(f"| [`{name}`](#{name}) | {opt['type']} | {_value(opt['default'])} | `{env}` |")
        out.append("")
        for name, opt in spec["options"].items():
            out += [f"### `{name}` {{#{name}}}", "", opt["description"], ""]
            facts = [
                f"type `{opt['type']}`",
                f"default {_value(opt['default'])}",
                f"example {_value(opt.get('example'), 'none')}",
                f"added in {opt.get('version_added') or '—'}",
            ]
            if opt.get("sensitive"):
                facts.append("**sensitive**: Airflow hides its value in configuration views")
            out += ["- " + "\n- ".join(facts), ""]
    return "\n".join(out)


def on_files(files, config):
    changelog = Path(config["config_file_path"]).parent / "CHANGELOG.md"
    if not changelog.is_file():
        raise PluginError(f"{changelog} is missing (the changelog page is generated from it)")
    files.append(File.generated(config, "changelog.md", content=changelog.read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != CONFIG_PAGE:
        return markdown
    if CONFIG_MARKER not in markdown:
        raise PluginError(f"{CONFIG_PAGE} has lost its {CONFIG_MARKER} marker")
    return markdown.replace(CONFIG_MARKER, render_config_reference())
