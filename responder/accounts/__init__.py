"""Accounts and access: users, roles, sessions, API tokens, trusted proxies."""

from responder.accounts.models import ApiToken, Principal, Role, User
from responder.accounts.service import Accounts, authenticate

__all__ = ["Accounts", "ApiToken", "Principal", "Role", "User", "authenticate"]
