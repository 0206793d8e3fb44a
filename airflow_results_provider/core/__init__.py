"""The pure core: facts every layer shares, with no Airflow runtime, no stores and no serializers.

Identity and row keys (:mod:`.identity`, :mod:`.rows`), store keys (:mod:`.keys`), signing (:mod:`.signing`),
masking (:mod:`.masking`), previews (:mod:`.preview`), payload metadata and its sidecar (:mod:`.metadata`,
:mod:`.sidecar`), hashed streams (:mod:`.streams`), the JSON codec (:mod:`.json_codec`), value equality and the
one "no value" sentinel (:mod:`.values`), display formatting (:mod:`.formatting`), lazy attributes
(:mod:`.lazy`) and the one place that looks at Airflow's call stack (:mod:`.callers`).
"""
