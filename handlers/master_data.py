"""Configurable master data and settings of the scheme: the insurer, its claims centre, deadlines.

Defaults follow RULES.md; a deployment overrides them with a JSON file named by IDIFLOW_MASTER_DATA
(keys as in DEFAULTS), so no rule value is a literal scattered through the code.
"""

from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from typing import Any

DEFAULTS: dict[str, Any] = {
    # LG-INSURER: the pilot insurer; LG-CLM-CENTER: its claims centre and 24-hour hotline.
    "insurer": {
        "name": "中国人民财产保险股份有限公司温州市分公司（人保财险温州市分公司）",
        "claims_department": "人保财险温州市分公司 工程质量潜在缺陷保险理赔服务运营中心",
        "hotline": "95518",
        "hotline_hours": "24小时",
        "contact": "理赔服务运营中心（龙港工作站）",
        "address": "浙江省温州市龙港市",
    },
    # LG-SCOPE: project types that are new buildings or residential works.
    "in_scope_project_types": ["new_residential", "new_building"],
    # DEC-RM-LOOP: rectification deadlines in days by grade, and escalation steps after the deadline.
    "rectification_days": {"serious": 7, "moderate": 14, "minor": 30},
    "escalation_steps": [
        {"level": 1, "after_days": 0, "to": "responsible party (reminder)"},
        {"level": 2, "after_days": 3, "to": "insurer and developer"},
        {"level": 3, "after_days": 7, "to": "authority"},
    ],
    # LG-RM-MAJOR / DEC-RM-LOOP: a major finding is copied to the authority within this many working days.
    "major_copy_working_days": 1,
    # DEC-RM-LOOP: the inspection stages a plan may contain.
    "inspection_stages": [
        "design_review",
        "foundation",
        "main_structure",
        "envelope_waterproofing",
        "mep",
        "decoration",
        "pre_completion",
    ],
    # LG-FUND-EXEMPT: minimum warranty years per cover item required for the maintenance-fund exemption.
    "exemption_minimum_years": {"1": 10, "2": 10, "3": 10, "4": 10, "5": 5, "6": 2, "7": 2, "8": 2},
}


@lru_cache(maxsize=1)
def _loaded() -> dict[str, Any]:
    data = copy.deepcopy(DEFAULTS)
    path = os.environ.get("IDIFLOW_MASTER_DATA")
    if path:
        with open(path, encoding="utf-8") as fh:
            data.update(json.load(fh))
    return data


def get(key: str) -> Any:
    """One master-data value (a copy, so callers cannot change the settings)."""
    return copy.deepcopy(_loaded()[key])


def reload() -> None:
    """Forget cached settings (after the override file changed)."""
    _loaded.cache_clear()
