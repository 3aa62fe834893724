"""Local accounts, API tokens and the login throttle, over a real store."""

from __future__ import annotations

import pytest

from responder.accounts.models import Role
from responder.accounts.service import Accounts
from responder.accounts.throttle import LoginThrottle
from responder.accounts.tokens import COLLECTION as TOKENS
from responder.accounts.tokens import TokenBook
from responder.accounts.users import COLLECTION as USERS
from responder.accounts.users import AccountError, UserBook
from responder.sections import AccountSettings
from responder.settings import Settings
from responder.store import Store

PASSWORD = "correct horse battery"


def test_passwords_are_stored_as_argon2id_hashes_only(sqlite_store: Store) -> None:
    UserBook(sqlite_store).create("alice", PASSWORD, Role.operator, "test", "test")
    found = sqlite_store.get_document(USERS, "alice")
    assert found is not None
    stored = found[1]
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(stored)
    audit = sqlite_store.list_audit(10, "user:alice")
    assert audit[0].action == "user.create"
    assert "password_hash" not in str(audit[0].after)


def test_a_password_checks_only_for_its_enabled_user(sqlite_store: Store) -> None:
    users = UserBook(sqlite_store)
    users.create("alice", PASSWORD, Role.viewer, "test", "test")
    assert users.check_password("alice", PASSWORD) is not None
    assert users.check_password("alice", PASSWORD + "x") is None
    assert users.check_password("nobody", PASSWORD) is None
    users.update("alice", "admin", "test", disabled=True)
    assert users.check_password("alice", PASSWORD) is None


def test_short_passwords_and_bad_user_names_are_refused(sqlite_store: Store) -> None:
    users = UserBook(sqlite_store)
    with pytest.raises(AccountError) as short:
        users.create("alice", "short", Role.viewer, "test", "test")
    assert short.value.field == "password"
    with pytest.raises(AccountError) as name:
        users.create("Alice Smith", PASSWORD, Role.viewer, "test", "test")
    assert name.value.field == "username"


def test_the_first_admin_comes_from_the_settings_only_when_no_user_exists(
    sqlite_store: Store,
) -> None:
    settings = Settings(admin_user="root", admin_password=PASSWORD)
    accounts = Accounts(sqlite_store, settings.section(AccountSettings))
    accounts.prepare()
    root = accounts.users.get("root")
    assert root is not None and root.role == Role.admin
    # a later start with other values does not add or change anyone
    second = Settings(admin_user="second", admin_password=PASSWORD * 2)
    other = Accounts(sqlite_store, second.section(AccountSettings))
    other.prepare()
    assert [u.username for u in other.users.all()] == ["root"]


def test_roles_are_ordered_viewer_operator_approver_admin() -> None:
    assert Role.admin.includes(Role.approver)
    assert Role.approver.includes(Role.operator)
    assert Role.operator.includes(Role.viewer)
    assert not Role.viewer.includes(Role.operator)
    assert not Role.operator.includes(Role.approver)


def test_tokens_are_stored_hashed_and_verify_until_revoked(sqlite_store: Store) -> None:
    tokens = TokenBook(sqlite_store)
    token, text = tokens.create("ci", Role.operator, ["rules"], "test", "cli")
    assert text.startswith(f"rsre_{token.id}_")
    secret = text.rsplit("_", 1)[1]
    stored = sqlite_store.get_document(TOKENS, token.id)
    assert stored is not None and secret not in str(stored[1])
    verified = tokens.verify(text)
    assert verified is not None and verified.role == Role.operator
    assert verified.scopes == ("rules",)
    assert tokens.verify(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert tokens.verify("rsre_nothing_here") is None
    tokens.revoke(token.id, "test", "test")
    assert tokens.verify(text) is None


def test_unknown_token_scopes_are_refused(sqlite_store: Store) -> None:
    with pytest.raises(AccountError) as raised:
        TokenBook(sqlite_store).create("ci", Role.viewer, ["everything"], "test", "cli")
    assert raised.value.field == "scope"


def test_repeated_failed_logins_wait_longer_and_longer(store: Store) -> None:
    now = [1000.0]
    throttle = LoginThrottle(store, free=3, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait_seconds("alice", "10.0.0.1") == 0
        throttle.failed("alice", "10.0.0.1")
    assert throttle.wait_seconds("alice", "10.0.0.1") == pytest.approx(1.0)
    now[0] += 1.0
    throttle.failed("alice", "10.0.0.1")
    assert throttle.wait_seconds("alice", "10.0.0.1") == pytest.approx(2.0)
    # another replica (another throttle on the same store) sees the same
    replica = LoginThrottle(store, free=3, clock=lambda: now[0])
    assert replica.wait_seconds("alice", "10.0.0.1") == pytest.approx(2.0)
    # the same user from another address, another user: not held up
    assert throttle.wait_seconds("alice", "10.0.0.2") == 0
    assert throttle.wait_seconds("bob", "10.0.0.1") == 0
    throttle.succeeded("alice", "10.0.0.1")
    assert replica.wait_seconds("alice", "10.0.0.1") == 0


def test_one_address_trying_many_user_names_is_slowed_down(store: Store) -> None:
    throttle = LoginThrottle(store, free=3, address_free=5)
    for n in range(5):
        throttle.failed(f"user-{n}", "10.6.6.6")
    assert throttle.wait_seconds("user-99", "10.6.6.6") > 0
    assert throttle.wait_seconds("user-99", "10.0.0.1") == 0


def test_over_the_global_limit_only_addresses_that_failed_wait(store: Store) -> None:
    throttle = LoginThrottle(store, free=3, global_limit=10)
    for n in range(11):  # a guesser with eleven addresses, one failure each
        throttle.failed("root", f"10.6.6.{n}")
    assert throttle.wait_seconds("root", "10.6.6.99") == 0  # an address with no failure
    assert throttle.wait_seconds("root", "10.6.6.3") > 0  # one that failed once
    assert throttle.wait_seconds("root", "192.0.2.1") == 0  # the real admin


def test_a_throttled_login_is_refused_even_with_the_right_password(sqlite_store: Store) -> None:
    now = [0.0]
    accounts = Accounts(
        sqlite_store,
        Settings(admin_user="root", admin_password=PASSWORD).section(AccountSettings),
        throttle=LoginThrottle(sqlite_store, free=2, clock=lambda: now[0]),
    )
    assert accounts.login("root", "wrong", "10.0.0.1").user is None
    assert accounts.login("root", "wrong", "10.0.0.1").user is None
    refused = accounts.login("root", PASSWORD, "10.0.0.1")
    assert refused.user is None and refused.wait_seconds > 0
    now[0] += 5
    assert accounts.login("root", PASSWORD, "10.0.0.1").user is not None
