"""Lease claims on S3 (moto_server), GCS (gcp-storage-emulator) and Azure Blob (Azurite): exclusion across threads
and processes, takeover of dead, planted and garbage leases after ttl, one winner per takeover race, lost().

gcp-storage-emulator ignores ifGenerationMatch (the real GCS enforces it), so on GCS only the tests that need no
exclusive create run."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from airflow_results_provider.results.lease_claim import LeaseClaim
from tests.integration.cloud.test_cloud_results import BUCKET, unique_prefix
from tests.unit.results.test_claims import assert_one_holder_at_a_time, hold_in_turn

pytestmark = pytest.mark.airflow

CLAIM = "_cache/etl/policy/3f2a.claim"
SERVERS = {"s3": "s3_server", "gs": "gcs_server", "abfs": "azure_server"}


@pytest.fixture(params=list(SERVERS))
def spec(request) -> str:
    request.getfixturevalue(SERVERS[request.param])
    return f"{request.param}://{BUCKET}/{unique_prefix()}"


def store_of(spec: str):
    """A new Result on the store (its own SDK client, like another worker)."""
    from airflow_results_provider.results.registry import result_from_spec

    return result_from_spec(spec)


def needs_exclusive_creates(spec: str) -> None:
    if spec.startswith("gs://"):
        pytest.skip(
            "gcp-storage-emulator ignores ifGenerationMatch, so two creates of one object both succeed"
        )


def leases(store, location: str = CLAIM) -> list[str]:
    """The objects beside the claim location (its numbered leases)."""
    return sorted(obj.location for obj in store.list_objects(f"{location}."))


def plant(store, location: str, data: bytes) -> None:
    """Write ``data`` at ``location`` as any writer of the store could."""
    store._put_small(store.key(location), data)


def eventually(condition, what: str, timeout: float = 120.0):
    """``condition()``'s first truthy value, polled; fails after ``timeout`` seconds (no timing asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def test_a_held_claim_excludes_others_and_release_deletes_its_lease(spec):
    store = store_of(spec)
    assert store.supports_claims
    claim = store.try_claim(CLAIM)
    assert isinstance(claim, LeaseClaim)
    assert leases(store) == [f"{CLAIM}.0"]
    assert store.try_claim(CLAIM) is None
    assert store_of(spec).try_claim(CLAIM) is None
    claim.release()
    claim.release()  # idempotent
    assert leases(store) == []
    with store_of(spec).try_claim(CLAIM) as again:
        assert store.try_claim(CLAIM) is None
        assert not again.lost()
    assert leases(store) == []


def test_threads_hold_the_claim_one_at_a_time(spec, tmp_path):
    needs_exclusive_creates(spec)
    log_path, threads, rounds = str(tmp_path / "holders.log"), 6, 4
    errors: list[BaseException] = []

    def race(holder: str) -> None:
        try:
            hold_in_turn(store_of(spec), CLAIM, log_path, holder, rounds, poll=0.02, ttl=30)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=race, args=(f"t{i}",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert errors == []
    assert_one_holder_at_a_time(log_path, threads * rounds)
    assert leases(store_of(spec)) == []


def _race_in_process(spec: str, log_path: str, holder: str, rounds: int) -> None:
    hold_in_turn(store_of(spec), CLAIM, log_path, holder, rounds, poll=0.02, ttl=30)


def test_processes_hold_the_claim_one_at_a_time(spec, tmp_path):
    needs_exclusive_creates(spec)
    log_path, processes, rounds = str(tmp_path / "holders.log"), 4, 2
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=_race_in_process, args=(spec, log_path, f"p{i}", rounds))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert [worker.exitcode for worker in workers] == [0] * processes
    assert_one_holder_at_a_time(log_path, processes * rounds)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from airflow_results_provider.results.registry import result_from_spec

    claim = result_from_spec(sys.argv[1]).try_claim(sys.argv[2], ttl=float(sys.argv[3]))
    print("held" if claim is not None else "refused", flush=True)
    time.sleep(600)
    """
)


def first_word(stdout) -> str:
    """The holder's "held"/"refused" line (Airflow may log to stdout before it); "" at EOF."""
    for line in stdout:
        if line.strip() in ("held", "refused"):
            return line.strip()
    return ""


def test_a_killed_holders_lease_is_taken_over_after_ttl(spec):
    ttl = 1.5
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, spec, CLAIM, str(ttl)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert first_word(child.stdout) == "held"
        store = store_of(spec)
        assert leases(store) == [f"{CLAIM}.0"]
    finally:
        child.kill()
        child.wait(timeout=60)
    claim = eventually(lambda: store.try_claim(CLAIM, ttl=ttl), "the dead holder's lease to expire")
    assert leases(store) == [f"{CLAIM}.1"]  # the dead holder's lease was deleted
    claim.release()
    assert leases(store) == []


def test_a_planted_lease_that_expired_long_ago_is_taken_over_at_once(spec):
    store = store_of(spec)
    plant(store, f"{CLAIM}.0", json.dumps({"token": "dead", "expires": time.time() - 3600}).encode())
    claim = store.try_claim(CLAIM, ttl=1.5)
    assert claim is not None
    assert leases(store) == [f"{CLAIM}.1"]
    claim.release()


GARBAGE = {
    "not-json": b"\xff\x00 not json",
    "json-list": b"[1, 2]",
    "far-future": json.dumps({"token": "squatter", "expires": 1e308}).encode(),
    "year-9999": json.dumps({"token": "squatter", "expires": 253402300799}).encode(),
    "bad-types": json.dumps({"token": 5, "expires": "soon"}).encode(),
    "deep-json": b"[" * 100_000,
    "oversized": json.dumps({"token": "big", "expires": 1e308, "pad": "x" * 10_000}).encode(),
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_a_planted_garbage_lease_blocks_for_ttl_only_and_is_deleted(spec, garbage):
    store = store_of(spec)
    plant(store, f"{CLAIM}.7", GARBAGE[garbage])
    plant(store, f"{CLAIM}.not-a-number", b"ignored")
    assert store.try_claim(CLAIM, ttl=1.5) is None  # first seen now: counted as live for ttl
    claim = eventually(lambda: store.try_claim(CLAIM, ttl=1.5), f"the {garbage} lease to count as expired")
    assert leases(store) == [f"{CLAIM}.8", f"{CLAIM}.not-a-number"]
    claim.release()
    assert leases(store) == [f"{CLAIM}.not-a-number"]


def claim_at_once(stores: list, location: str, ttl: float) -> list:
    """Each store's ``try_claim(location)``, all started together from their own threads."""
    barrier = threading.Barrier(len(stores))
    claims: list = [None] * len(stores)
    errors: list[BaseException] = []

    def race(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            claims[index] = stores[index].try_claim(location, ttl=ttl)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    return claims


def test_claimants_racing_to_take_over_an_expired_lease_one_wins(spec):
    needs_exclusive_creates(spec)
    stores = [store_of(spec) for _ in range(4)]
    refused: list[str] = []  # conditional creates that lost: proof that racers reached the create together
    for store in stores:
        create = store._create_if_absent

        def counted(key: str, data: bytes, create=create) -> bool:
            created = create(key, data)
            if not created:
                refused.append(key)
            return created

        store._create_if_absent = counted
    dead = json.dumps({"token": "dead", "expires": time.time() - 3600}).encode()
    for round_ in range(12):
        location = f"_cache/race/{round_}.claim"
        plant(stores[0], f"{location}.3", dead)
        winners = [claim for claim in claim_at_once(stores, location, ttl=30) if claim is not None]
        assert len(winners) == 1, f"round {round_}: {winners}"
        assert leases(stores[0], location) == [f"{location}.4"]
        winners[0].release()
    assert refused, "no two racers ever created the same lease number: the race was not exercised"


def test_a_holder_whose_lease_is_replaced_or_deleted_knows_it_lost(spec):
    store = store_of(spec)
    claim = store.try_claim(CLAIM, ttl=1.5)
    assert not claim.lost()
    squatter = json.dumps({"token": "squatter", "expires": time.time() + 3600}).encode()
    plant(store, f"{CLAIM}.0", squatter)
    eventually(claim.lost, "the holder's renewal to find another token")
    claim.release()
    assert store._get_small(store.key(f"{CLAIM}.0")) == squatter  # release deletes only its own lease
    store.delete_payload(f"{CLAIM}.0")
    claim = store.try_claim(CLAIM, ttl=1.5)
    store._delete_key(store.key(f"{CLAIM}.0"))
    eventually(claim.lost, "the holder's renewal to find its lease gone")
    claim.release()


def test_a_live_holder_keeps_its_claim_beyond_ttl(spec):
    store, ttl = store_of(spec), 3.0
    claim = store.try_claim(CLAIM, ttl=ttl)

    def renewals() -> int:
        return json.loads(store._get_small(store.key(f"{CLAIM}.0")))["renewals"]

    eventually(lambda: renewals() >= 4, "four renewals (more than ttl)")
    assert store_of(spec).try_claim(CLAIM, ttl=ttl) is None
    assert not claim.lost()
    claim.release()
    assert leases(store) == []
