"""Known roles: a lane in a diagram must name one of them (lane name = role key)."""

from __future__ import annotations

_ROLES: dict[str, str] = {}


def register_roles(roles: dict[str, str]) -> None:
    """Add roles (key -> human label); the domain package registers its own at import."""
    _ROLES.update(roles)


def known_roles() -> dict[str, str]:
    """Every registered role key with its label."""
    return dict(_ROLES)


def is_role(name: str | None) -> bool:
    """True when `name` is a registered role key."""
    return bool(name) and name in _ROLES
