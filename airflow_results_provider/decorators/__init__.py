"""``@task.result``: the TaskFlow decorator of ``ResultMixin`` tasks (registered through the provider info)."""
