"""Local accounts in the store's ``users`` collection, one document per user."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pydantic import ValidationError

from responder.accounts.models import Role, User
from responder.accounts.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from responder.records.audit import audit
from responder.store import Store, VersionConflict

COLLECTION = "users"


class AccountError(ValueError):
    """A user or token change that cannot be made; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(eq=False)
class UserBook:
    store: Store

    def get(self, username: str) -> User | None:
        found = self.store.get_document(COLLECTION, username.lower())
        return User.model_validate(found[1]) if found else None

    def all(self) -> list[User]:
        return [User.model_validate(doc) for _, doc in self.store.list_documents(COLLECTION)]

    def any(self) -> bool:
        return bool(self.store.list_documents(COLLECTION))

    def create(self, username: str, password: str, role: Role, actor: str, surface: str) -> User:
        problem = password_problem(password)
        if problem:
            raise AccountError("password", problem)
        try:
            user = User(
                username=username.strip().lower(),
                role=role,
                password_hash=hash_password(password),
                created_by=actor,
            )
        except ValidationError as exc:
            raise AccountError("username", exc.errors()[0]["msg"]) from exc
        try:
            self.store.put_document(
                COLLECTION, user.username, user.model_dump(mode="json"), expected_version=0
            )
        except VersionConflict as exc:
            raise AccountError("username", f"user {user.username!r} already exists") from exc
        self._audit("user.create", user.username, None, _shown(user), actor, surface)
        return user

    def update(
        self,
        username: str,
        actor: str,
        surface: str,
        role: Role | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> User:
        found = self.store.get_document(COLLECTION, username)
        if found is None:
            raise AccountError("username", f"no user {username!r}")
        version, doc = found
        before = User.model_validate(doc)
        changes: dict[str, object] = {}
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = disabled
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise AccountError("password", problem)
            changes["password_hash"] = hash_password(password)
        after = before.model_copy(update=changes)
        try:
            self.store.put_document(
                COLLECTION, username, after.model_dump(mode="json"), expected_version=version
            )
        except VersionConflict as exc:
            raise AccountError("username", f"user {username!r} changed meanwhile") from exc
        shown_after = _shown(after) | ({"password": "changed"} if password else {})
        self._audit("user.update", username, _shown(before), shown_after, actor, surface)
        return after

    def check_password(self, username: str, password: str) -> User | None:
        """The enabled user whose password this is, else None (constant work)."""
        user = self.get(username) if username else None
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            return None
        if needs_rehash(user.password_hash):
            version_doc = self.store.get_document(COLLECTION, user.username)
            if version_doc is not None:
                user = user.model_copy(update={"password_hash": hash_password(password)})
                # somebody else changed it meanwhile: the old hash still verifies
                with contextlib.suppress(VersionConflict):
                    self.store.put_document(
                        COLLECTION,
                        user.username,
                        user.model_dump(mode="json"),
                        expected_version=version_doc[0],
                    )
        return user

    def bootstrap_admin(self, username: str | None, password: str | None) -> User | None:
        """Create the first admin from the settings when no user exists yet."""
        if not username or not password or self.any():
            return None
        try:
            return self.create(username, password, Role.admin, "robot-sre", "settings")
        except AccountError as exc:
            if "already exists" in exc.message:
                return None  # another replica made it first
            raise AccountError(f"ROBOT_SRE_ADMIN_{exc.field.upper()}", exc.message) from exc

    def _audit(
        self,
        action: str,
        username: str,
        before: object,
        after: object,
        actor: str,
        surface: str,
    ) -> None:
        audit(
            self.store,
            actor=actor,
            surface=surface,
            action=action,
            subject=f"user:{username}",
            before=before,
            after=after,
        )


def _shown(user: User) -> dict[str, object]:
    """A user as the audit log shows it: never the hash."""
    return user.model_dump(mode="json", exclude={"password_hash"})
