"""The IDI domain: service-task handlers and domain tables. Importing this package registers them.

Boundaries: may import `engine` (registry, errors, db base, clock); never `web`.
"""

from . import cover, fund, models, notices, risk, roles, underwriting  # noqa: F401 - registers roles, tables, handlers
from . import claim_disputes, claim_models, claims, intake  # noqa: F401, E402 - claims tables and handlers (issue 5)
from . import credit, report_models, reports, statistics  # noqa: F401, E402 - statistics, reports, credit (issue 8)
