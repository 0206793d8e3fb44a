"""Forged rows, written as the attacker would (issue 21, findings 4, 8 and 9): a malformed ``hmac`` is no
signature (never a crash), a forged ``url`` never becomes a link, row strings never become terminal markup, a
store spec without a bucket is a typed config error, and the plugin app has no route without auth."""

from __future__ import annotations

import argparse
import json

import pytest

from airflow_results_provider import config, index
from airflow_results_provider.core import signing
from airflow_results_provider.core.envelope import build_envelope, verify
from airflow_results_provider.exceptions import ResultConfigError, UntrustedEnvelopeError
from airflow_results_provider.index import references
from airflow_results_provider.results.local_result import LocalResult
from airflow_results_provider.serializers import JSONSerializer
from airflow_results_provider.xcom._envelope import open_envelope

KEY = b"k" * 32
IDENTITY = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1}
BAD_HMACS = ["é" * 64, "x" * 10_000_000, "A" * 64, "0" * 63, 12345, None]


@pytest.fixture
def written(tmp_path):
    return LocalResult(dir=str(tmp_path), location="d/t.json").write({"a": 1})


def envelope_row(written, **changes):
    envelope = build_envelope(
        metadata=written.metadata,
        store=written.store_spec(),
        key=written.location,
        owner="xcom",
        dag_id="d",
        task_id="t",
        run_id="r",
        map_index=-1,
        xcom_key="return_value",
        signing_key=KEY,
    )
    envelope.update(changes)
    return envelope


@pytest.mark.parametrize("bad", BAD_HMACS, ids=["non-ascii", "10MB", "uppercase", "short", "int", "none"])
def test_a_malformed_hmac_is_no_signature_and_never_an_error(written, bad):
    assert not signing.signature_matches({"a": 1, "hmac": bad}, KEY, signing.DOMAIN_ENVELOPE)
    row = envelope_row(written, hmac=bad)
    record = index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(row), signing_key=KEY)
    assert record is not None and not record.verified
    with pytest.raises(UntrustedEnvelopeError):
        open_envelope(
            row, expected={**IDENTITY, "xcom_key": "return_value"}, signing_key=KEY, trusted_stores=()
        )
    ref = {**references.build_reference(written, "checkpoint"), "hmac": bad}
    assert not references.verify_reference(ref, IDENTITY, KEY)
    link = json.dumps(references.attach("/base/x", ref))
    assert not index.record_from_row("d", "r", "t", -1, index.LINK_KEY, link, signing_key=KEY).verified


def test_a_genuine_signature_still_verifies(written):
    row = envelope_row(written)
    assert signing.is_signature(row["hmac"])
    record = index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(row), signing_key=KEY)
    assert record.verified


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(document.cookie)", "http://phish.example/login", "data:text/html,x", " https://x"],
)
def test_only_verified_https_urls_become_links(written, url):
    forged = envelope_row(written, url=url, hmac="0" * 64)  # unverified, url not https
    assert (
        index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(forged), signing_key=KEY).url
        is None
    )
    signed = envelope_row(written, url=url)
    # even a key holder's row: never a non-https link
    signed["hmac"] = signing.sign(signed, KEY, signing.DOMAIN_ENVELOPE)
    record = index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(signed), signing_key=KEY)
    assert record.verified and record.url is None
    phishing = envelope_row(written, url="https://phish.example/", hmac="0" * 64)  # https, but forged
    assert (
        index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(phishing), signing_key=KEY).url
        is None
    )


def test_row_strings_are_printed_as_text_never_as_terminal_markup(monkeypatch, capsys):
    from airflow_results_provider.cli import commands

    evil = index.Record(
        dag_id="[link=https://phish.example]click[/link]",
        run_id="r\x1b]8;;https://phish.example\x07x\x1b]8;;\x07",
        task_id="[bold red]unbalanced",
        map_index=-1,
        xcom_key="return_value",
        owner="xcom",
        store=None,
        key=None,
        location="[/]",
        result="[bold red]unbalanced",
        serializer="\x1b[2J",
    )

    class Session:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(commands, "_session", Session)
    monkeypatch.setattr(commands.index, "iter_records", lambda *a, **k: iter([evil]))
    args = argparse.Namespace(dag_id=None, run_id=None, task_id=None, owner=None, older_than=None)
    commands.list_results(argparse.Namespace(**vars(args), limit=10, output="table"))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold red]unbalanced" in out and "[/]" in out  # shown as typed, not interpreted


@pytest.mark.parametrize("spec", ["s3://", "gs://", "abfs://", "s3://conn@/prefix"])
def test_a_store_spec_without_a_bucket_is_a_config_error_naming_the_option(monkeypatch, spec):
    from airflow_results_provider.results.registry import configured_result

    monkeypatch.setenv("AIRFLOW__RESULTS__XCOM_RESULT", spec)
    config.clear_cache()
    try:
        with pytest.raises(ResultConfigError, match=r"\[results\] xcom_result"):
            configured_result("xcom_result")
    finally:
        monkeypatch.delenv("AIRFLOW__RESULTS__XCOM_RESULT")
        config.clear_cache()


def test_the_plugin_app_has_no_route_without_auth():
    from airflow_results_provider.plugins.app import create_app

    app = create_app()
    paths = {getattr(route, "path", "") for route in app.routes}
    assert not paths & {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}, paths
    for route in app.routes:
        names = {getattr(d.call, "__name__", "") for d in route.dependant.dependencies}
        assert "get_user" in names, f"{route.path} does not authenticate its caller: {names}"


def test_a_short_signing_key_is_refused(monkeypatch):
    monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", "k3y")
    config.clear_cache()
    try:
        with pytest.raises(ResultConfigError, match="at least 32 bytes"):
            config.envelope_signing_key()
        monkeypatch.setenv("AIRFLOW__RESULTS__SIGNING_KEY", "k" * 32)
        config.clear_cache()
        assert config.envelope_signing_key() == b"k" * 32
    finally:
        monkeypatch.delenv("AIRFLOW__RESULTS__SIGNING_KEY")
        config.clear_cache()


def test_secrets_are_masked_at_every_depth():
    from airflow_results_provider.core.masking import mask_sensitive
    from airflow_results_provider.core.preview import make_preview, structured_preview

    deep: dict = {"password": "hunter2"}
    for _ in range(300):  # as deep as a forged payload likes (nesting >= 250 once gave HTTP 500)
        deep = {"level": deep}
    for shown in (mask_sensitive(deep), make_preview(deep, 100_000), structured_preview(deep)):
        assert "hunter2" not in repr(shown)


def test_signatures_are_typed_an_envelope_never_verifies_as_a_link_reference_or_back(tmp_path):
    written = LocalResult(dir=tmp_path, location="x.pkl").write({"v": 1})
    identity = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1}
    ref = references.build_reference(written, "checkpoint")
    signed_ref = references.sign_reference(ref, identity, KEY)
    assert references.verify_reference(signed_ref, identity, KEY)
    # The same fields signed as an envelope (or with the untyped signature of earlier builds) do not verify as a reference.
    for domain in (signing.DOMAIN_ENVELOPE, signing.DOMAIN_NONE):
        body = {**ref, **identity, "map_index": None}
        forged = {**ref, "hmac": signing.sign(body, KEY, domain)}
        assert not references.verify_reference(forged, identity, KEY)
    envelope = envelope_row(written)
    as_reference = {**envelope, "hmac": signing.sign(envelope, KEY, signing.DOMAIN_LINK_REFERENCE)}
    with pytest.raises(UntrustedEnvelopeError):
        verify(as_reference, KEY)


def test_an_envelope_signed_untyped_by_an_earlier_build_is_treated_as_unsigned(tmp_path):
    written = LocalResult(dir=tmp_path, location="x.json", serializer=JSONSerializer()).write({"v": 1})
    legacy = envelope_row(written)
    legacy["hmac"] = signing.sign(legacy, KEY, signing.DOMAIN_NONE)
    expected = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1, "xcom_key": "return_value"}
    with pytest.raises(UntrustedEnvelopeError, match="not signed"):
        open_envelope(legacy, expected=expected, signing_key=KEY, trusted_stores=[written.store_spec()])
    opened = open_envelope(
        legacy, expected=expected, signing_key=KEY, trusted_stores=[written.store_spec()], allow_unsigned=True
    )
    assert not opened.signed


def test_a_json_payload_shown_on_the_results_page_is_bounded_at_every_level(tmp_path):
    # ui_load_preview: a payload 300 levels deep, 20 x 20 x 20 wide or one 1 MiB string gives a bounded, masked
    # tree (8,000 values before the node budget; a 1 MiB string in full).
    from airflow_results_provider.core import masking
    from airflow_results_provider.index.stores import load_json_preview

    def nodes(value):
        if isinstance(value, dict):
            return 1 + sum(nodes(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(nodes(v) for v in value)
        return 1

    deep: object = {"password": "hunter2"}
    for _ in range(300):
        deep = [deep, {"api_key": "k"}]
    wide = [{"token": "t", **{f"k{j}": list(range(20)) for j in range(20)}} for _ in range(2_000)]
    for value in (deep, wide, "x" * (1 << 20)):
        written = LocalResult(dir=tmp_path, location="v.json", serializer=JSONSerializer()).write(value)
        record = index.record_from_row(
            "d", "r", "t", -1, "return_value", json.dumps(envelope_row(written)), signing_key=KEY
        )
        shown = load_json_preview(record, 64 << 20)
        assert shown is not None
        assert nodes(shown) <= masking.MAX_NODES + 1
        assert len(json.dumps(shown)) < 40_000
        assert "hunter2" not in json.dumps(shown) and '"k"' not in json.dumps(shown)


def test_a_forged_row_cannot_shield_a_prefix_from_gc(written):
    from airflow_results_provider.index.stores import KeyReferences

    def sequence_row(hmac_value=None):
        row = envelope_row(written, kind="sequence", chunks=2, key="xcom")
        row.pop("hmac")
        row["hmac"] = hmac_value or signing.sign(row, KEY, signing.DOMAIN_ENVELOPE)
        return index.record_from_row("d", "r", "t", -1, "return_value", json.dumps(row), signing_key=KEY)

    forged, genuine = sequence_row("0" * 64), sequence_row()
    assert not forged.verified and genuine.verified
    for record, shields in ((forged, False), (genuine, True)):
        references = KeyReferences()
        references.add(record)
        keys, prefixes = references.referenced({written.store_spec()})
        assert "xcom" in keys  # its own key is always kept
        assert bool(prefixes and "xcom/anything.pkl".startswith(prefixes)) is shields
