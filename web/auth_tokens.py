"""Bearer tokens for the JSON API: issued once in clear, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import bindparam, event, select
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


class TokenCache:
    """Token -> user for `ttl` seconds, so a busy API client costs no token query on every request.

    Entries are detached User rows: read them, never change or re-attach them. A change of any user or token
    written through the ORM in this process empties the cache at once (see `_forget_all`); another process's
    change (revoked token, new roles) is seen here within `ttl` seconds. `ttl` 0 turns caching off.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000):
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[float, int, User | None]] = {}
        self._lock = threading.Lock()

    def user(self, session: Session, token: str) -> User | None:
        """The token's user (None: unknown, revoked or inactive), from the cache or the database."""
        if self.ttl <= 0:
            return user_for_token(session, token)
        key, now = hash_token(token), time.monotonic()
        found = self._entries.get(key)
        if found is not None and found[0] > now and found[1] == _generation:
            return found[2]
        generation = _generation
        user = session.scalars(_USER_FOR_HASH, {"token_hash": key}).first()
        if user is not None:
            session.expunge(user)  # shared by later requests and threads: out of this request's session
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (now + self.ttl, generation, user)
        return user


#: Bumped whenever this process flushes a change to a user or a token; older cache entries are stale.
_generation = 0


def _forget_all(_mapper, _connection, _target) -> None:
    global _generation
    _generation += 1


for _model in (User, ApiToken):
    for _name in ("after_insert", "after_update", "after_delete"):
        event.listen(_model, _name, _forget_all)
