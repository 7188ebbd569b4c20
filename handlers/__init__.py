"""The IDI domain: service-task handlers and domain tables. Importing this package registers them.

Boundaries: may import `engine` (registry, errors, db base, clock); never `web`.
"""

from . import models, roles  # noqa: F401 - registers the IDI roles and domain tables
