"""The IDI roles (RULES.md section 9); a lane's name in a diagram is one of these keys."""

from __future__ import annotations

from engine import register_roles

IDI_ROLES = {
    "developer": "建设单位 Developer",
    "contractor": "施工单位 Contractor",
    "underwriter": "承保人员 Underwriter",
    "claims_handler": "理赔人员 Claims handler",
    "claims_supervisor": "理赔主管 Claims supervisor",
    "risk_engineer": "风险管理机构 Risk engineer",
    "authority_officer": "建设行政主管部门 Authority officer",
    "owner": "业主 Owner",
    "appraiser": "鉴定机构 Appraiser",
    "repairer": "维修单位 Repairer",
    "process_owner": "流程负责人 Process owner",
    "administrator": "系统管理员 Administrator",
}

register_roles(IDI_ROLES)
