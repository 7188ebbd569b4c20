"""The JSON API under /api/v1: one child blueprint per resource, bearer tokens, JSON errors."""

from __future__ import annotations

from flask import Blueprint

from ..errors import init_api_errors
from . import (
    agencies,
    claims,
    clock,
    definitions,
    incidents,
    inspections,
    instances,
    messages,
    notices,
    openapi,
    policies,
    projects,
    statistics,
    tasks,
)
from .access import authenticate

bp = Blueprint("api", __name__)
bp.before_request(authenticate)
init_api_errors(bp)

for _child in (definitions.bp, instances.bp, tasks.bp, messages.bp, incidents.bp, clock.bp, claims.bp,
               projects.bp, policies.bp, agencies.bp, inspections.bp, notices.bp, statistics.bp, openapi.bp):
    bp.register_blueprint(_child)
