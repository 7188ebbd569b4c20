"""User accounts: create them, find them, check their roles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine import clock
from engine.roles import is_role, known_roles

from .models import User

ADMIN_ROLE = "administrator"


class AccountError(ValueError):
    """A user cannot be created as asked (unknown role, name taken)."""


def find_user(session: Session, username: str) -> User | None:
    """The user with this name, or None."""
    return session.scalars(select(User).where(User.username == username)).first()


def create_user(session: Session, username: str, roles: list[str], password: str | None = None,
                display_name: str = "") -> User:
    """Add a user with known roles (and a hashed password if given); does not commit."""
    unknown = [r for r in roles if not is_role(r)]
    if unknown:
        raise AccountError(f"Unknown role(s) {', '.join(unknown)}; known roles are "
                           f"{', '.join(sorted(known_roles()))}.")
    if find_user(session, username) is not None:
        raise AccountError(f"A user named '{username}' already exists; choose another name.")
    user = User(username=username, display_name=display_name or username, roles=list(dict.fromkeys(roles)),
                password_hash=generate_password_hash(password) if password else "", attributes={},
                active=True, created_at=clock.now())
    session.add(user)
    session.flush()
    return user


def has_role(user: User, *roles: str) -> bool:
    """True when the user holds one of `roles`; administrators hold every role."""
    held = set(user.roles or ())
    return ADMIN_ROLE in held or bool(held.intersection(roles))
