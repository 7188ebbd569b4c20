"""Bearer tokens for the JSON API: issued once in clear, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import clock

from .models import ApiToken, User

SCHEME = "bearer"


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, label: str = "") -> str:
    """Create a token for `user` and return it in clear (it cannot be shown again); does not commit."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=hash_token(token), user_id=user.id, label=label, created_at=clock.now(),
                         revoked=False))
    session.flush()
    return token


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == SCHEME else None


#: Built once: every API request runs it (building the statement cost as much as running it).
_USER_FOR_HASH = (select(User).join(ApiToken, ApiToken.user_id == User.id)
                  .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked.is_(False),
                         User.active.is_(True)))


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning this unrevoked token, or None."""
    return session.scalars(_USER_FOR_HASH, {"token_hash": hash_token(token)}).first()
