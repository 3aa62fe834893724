"""Slack's Socket Mode, for clusters Slack cannot post to: slack-sdk's
built-in client opens a websocket with the app-level token and receives the
slash commands and button presses the HTTP routes would get.

Exactly one replica holds the socket: the one holding a lease in the store,
renewed while it runs; another replica takes over once the lease runs out.
Every envelope is acked at once; the answer goes through the Web API or the
command's ``response_url``."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from responder.store import Store

log = logging.getLogger(__name__)

LEASE_KEY = "slack:socket-mode"

Handler = Callable[[dict[str, Any]], None]


@dataclass(eq=False)
class SocketModeLink:
    """Holds the Socket Mode connection while this replica holds the lease.
    ``on_command`` gets a ``slash_commands`` payload, ``on_interaction`` an
    ``interactive`` one (both called on the client's worker threads)."""

    store: Store
    app_token: str = field(repr=False)
    web_client: WebClient
    on_command: Handler
    on_interaction: Handler
    lease_seconds: float = 30.0
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    _client: SocketModeClient | None = field(default=None, init=False)
    _stopped: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="slack-socket-mode", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the socket and give the lease back for another replica."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self._disconnect()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("slack socket mode: keeping the link failed; trying again")
            self._stopped.wait(self.lease_seconds / 3)

    def _tick(self) -> None:
        if self._client is None:
            if self.store.set_if_absent(LEASE_KEY, self.holder, self.lease_seconds):
                self._connect()
        elif not self._renew():
            log.warning("slack socket mode: the lease went to another replica; closing")
            self._disconnect(release=False)

    def _renew(self) -> bool:
        # the store has no "extend": drop our own lease and take it again at once
        if self.store.get_key(LEASE_KEY) != self.holder:
            return False
        self.store.delete_key(LEASE_KEY, expected=self.holder)
        return self.store.set_if_absent(LEASE_KEY, self.holder, self.lease_seconds)

    def _connect(self) -> None:
        client = SocketModeClient(app_token=self.app_token, web_client=self.web_client, logger=log)
        client.socket_mode_request_listeners.append(self._on_request)
        try:
            client.connect()
        except Exception as exc:
            client.close()
            self.store.delete_key(LEASE_KEY, expected=self.holder)
            log.error("slack socket mode: cannot connect: %s: %s", type(exc).__name__, exc)
            return
        self._client = client
        log.info("slack socket mode: connected (this replica holds the socket)")

    def _disconnect(self, release: bool = True) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.close()
        if release:
            self.store.delete_key(LEASE_KEY, expected=self.holder)

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type == "slash_commands":
            self.on_command(request.payload)
        elif request.type == "interactive":
            self.on_interaction(request.payload)
        else:
            log.info("slack socket mode: %s envelope ignored", request.type)
