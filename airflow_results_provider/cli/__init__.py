"""``airflow results …``: registered through the provider-info ``cli`` key (Airflow ≥ 3.2)."""
