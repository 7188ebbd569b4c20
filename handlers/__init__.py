"""The IDI domain: service-task handlers and domain tables. Importing this package registers them.

Boundaries: may import `engine` (registry, errors, db base, clock); never `web`.
"""

# Importing the modules registers the roles, the domain tables and the service-task handlers.
from . import (  # noqa: F401
    claim_disputes,
    claim_models,
    claims,
    cover,
    credit,
    fund,
    intake,
    models,
    notices,
    report_models,
    reports,
    risk,
    roles,
    statistics,
    underwriting,
)
