"""API tokens: stored hashed, verified to their owner and scope, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import InvalidOwnerError, UnauthorizedError
from services.models import ApiToken
from services.plane import ControlPlane
from services.records import Principal
from services.tokens import hash_token


def test_a_token_is_stored_only_as_its_hash_and_verifies_to_its_owner(plane: ControlPlane):
    token = plane.tokens.create("alice", admin=True)
    with plane.db.read() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert stored == [hash_token(token)] and token not in stored
    assert plane.tokens.verify(token) == Principal("alice", admin=True)


def test_an_unknown_token_is_unauthorized(plane: ControlPlane):
    with pytest.raises(UnauthorizedError, match="abs token create"):
        plane.tokens.verify("abs_not-a-token")


def test_a_revoked_token_stops_working(plane: ControlPlane):
    token = plane.tokens.create("bob")
    plane.tokens.verify(token)  # cached now
    plane.tokens.revoke(token)
    with pytest.raises(UnauthorizedError):
        plane.tokens.verify(token)


def test_an_empty_owner_is_refused(plane: ControlPlane):
    with pytest.raises(InvalidOwnerError, match="non-empty name"):
        plane.tokens.create("  ")
