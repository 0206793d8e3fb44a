"""A registered secret never shows in an abridged display (issue 21, finding 7): values are masked before they
are cut, so a long secret cut in half is still masked."""

from __future__ import annotations

import random
import string

import pytest

from airflow_results_provider.core.preview import abridge

masker = pytest.importorskip("airflow.sdk._shared.secrets_masker.secrets_masker")


@pytest.fixture
def secret():
    value = "".join(random.Random(21).choice(string.ascii_letters) for _ in range(2000))  # 2,000 characters
    masker.mask_secret(value)
    return value


def windows(secret: str, size: int = 40) -> list[str]:
    return [secret[i : i + size] for i in range(0, len(secret) - size + 1, size)]


@pytest.mark.parametrize(
    "make", [lambda s: s, lambda s: {"token": "x", "blob": s}, lambda s: [1, 2, s], lambda s: ("p" * 500) + s]
)
@pytest.mark.parametrize("limit", [256, 1024, 1800])
def test_no_window_of_a_registered_secret_survives_abridging(secret, make, limit):
    shown = repr(abridge(make(secret), limit, per_item=True))
    assert not [w for w in windows(secret) if w in shown]
