"""What the admin pages read and call: the responder's own services (the
ones the API handlers use), plus the page machinery."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from responder.accounts.service import Accounts
from responder.admin.static import HashedStatic
from responder.policy.matrix import Row, resolved_matrix
from responder.policy.severity import SeverityRules
from responder.records.levels import Environment
from responder.runtime import Runtime


@dataclass
class AdminServices:
    runtime: Runtime
    accounts: Accounts
    templates: Jinja2Templates
    static: HashedStatic
    severity_rules: SeverityRules
    _matrix: tuple[Any, dict[Environment, list[Row]]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def matrix(self) -> dict[Environment, list[Row]]:
        """The resolved policy matrix, recomputed when the operator rules change."""
        key = tuple((r.id, r.version) for r in self.runtime.rules.active())
        with self._lock:
            if self._matrix is None or self._matrix[0] != key:
                self._matrix = (key, resolved_matrix(self.runtime.policy))
            return self._matrix[1]


def services(request: Request) -> AdminServices:
    found: AdminServices = request.app.state.admin
    return found
