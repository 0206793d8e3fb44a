"""The claim half of the storage protocol: :meth:`ClaimableStore.try_claim` (single-flight, see :mod:`.claims`)."""

from __future__ import annotations

from airflow_results_provider.results.claims import Claim, checked_ttl, granted_claim
from airflow_results_provider.results.lease_claim import try_lease


class ClaimableStore:
    """Mixin of :class:`~airflow_results_provider.results.storage.StorageResult`: exclusive claims on keys.

    Object stores with ``conditional_writes`` (``BucketResult``'s key operations) get lease claims; a store with
    another primitive overrides :meth:`_take_claim` and :attr:`supports_claims` (``LocalResult``: ``flock``).
    """

    @property
    def supports_claims(self) -> bool:
        """Whether :meth:`try_claim` excludes other claimants; where it does not, every claim is granted."""
        return bool(getattr(self, "conditional_writes", False))

    def try_claim(self, location: str, *, ttl: float = 60.0) -> Claim | None:
        """Take the claim on ``location`` (the key of a claim object, e.g. ``_cache/x/policy/<key>.claim``) if
        nobody holds it; ``None`` when someone alive holds it. A lease not renewed for ``ttl`` seconds (its holder
        died) is taken over. Everyone claiming one location must use the same ``ttl``.

        :raises InvalidLocationError: ``location`` is not a valid location of this store.
        :raises ResultConfigError: ``ttl`` is not a positive number of seconds.
        :raises ResultError: the store cannot be reached (a :class:`ResultWriteError` when it refuses a write).
        """
        ttl = checked_ttl(ttl)
        self._check_location(location)  # type: ignore[attr-defined]
        return self._take_claim(location, ttl)

    def _take_claim(self, location: str, ttl: float) -> Claim | None:
        if self.supports_claims:
            return try_lease(self, self.key(location), ttl)  # type: ignore[attr-defined]
        return granted_claim(self, location)
