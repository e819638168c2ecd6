"""API tokens (per user) and worker tokens (per job attempt): random secrets, stored only as sha256."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import select, update

from services.db import Database, utcnow
from services.errors import InvalidOwnerError, NotFoundError, UnauthorizedError
from services.models import ApiToken
from services.records import Principal

API_TOKEN_PREFIX = "abs_"
WORKER_TOKEN_PREFIX = "absw_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_worker_token() -> str:
    return WORKER_TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenStore:
    """Creates, verifies and revokes API tokens; a verified token is trusted for `cache_seconds`."""

    def __init__(self, db: Database, cache_seconds: float = 10.0):
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def create(self, owner: str, admin: bool = False) -> str:
        """A new token for `owner`; the plain text is returned once and never stored."""
        if not owner.strip() or len(owner) > 200:
            raise InvalidOwnerError(f"owner {owner!r}: give a non-empty name of at most 200 characters")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as session:
            session.add(ApiToken(token_hash=hash_token(token), owner=owner, admin=admin, created_at=utcnow()))
        return token

    def cached(self, token: str) -> Principal | None:
        """The principal of a recently verified token, without touching the database (or None)."""
        with self._lock:
            cached = self._cache.get(hash_token(token))
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def verify(self, token: str) -> Principal:
        principal = self.cached(token)
        if principal is not None:
            return principal
        digest = hash_token(token)
        now = time.monotonic()
        with self.db.read() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
            if row is None or row.revoked_at is not None:
                raise UnauthorizedError("invalid or revoked API token; create one with `abs token create`")
            principal = Principal(row.owner, row.admin)
        if self.cache_seconds > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now + self.cache_seconds, principal)
        return principal

    def revoke(self, token: str) -> None:
        digest = hash_token(token)
        with self.db.write() as session:
            done = session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError("no live API token matches the one given")
        with self._lock:
            self._cache.pop(digest, None)
