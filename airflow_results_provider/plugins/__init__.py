"""The Results UI plugin (entry point ``airflow.plugins``): see :mod:`.results_plugin`."""
