"""``robot-sre token create``: the token, alone on the last line, works at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.accounts.tokens import TokenBook
from responder.cli import main
from responder.store import open_store


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store the command line uses (from the environment, no config file)."""
    chosen = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("ROBOT_SRE_STORE_URL", chosen)
    monkeypatch.delenv("ROBOT_SRE_CONFIG", raising=False)
    return chosen


def test_token_create_prints_the_token_alone_on_its_last_line(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["token", "create", "--name", "grafana", "--role", "viewer", "--scope", "incidents"]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    token = lines[-1]
    assert token.startswith("rsre_") and " " not in token
    store = open_store(url)
    try:
        found = TokenBook(store).verify(token)
        assert found is not None
        assert (found.name, found.role, found.scopes) == ("grafana", "viewer", ("incidents",))
        assert store.list_audit(5, f"token:{found.id}")[0].surface == "cli"
    finally:
        store.close()


def test_token_create_refuses_an_unknown_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROBOT_SRE_STORE_URL", f"sqlite:///{tmp_path}/s.db")
    with pytest.raises(SystemExit) as raised:
        main(["token", "create", "--name", "x", "--role", "root"])
    assert raised.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_token_lives_its_expires_in_or_the_default_lifetime(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--name", "ci", "--role", "viewer", "--expires-in", "12h"]) == 0
    assert main(["token", "create", "--name", "dflt", "--role", "viewer"]) == 0
    assert (
        main(["token", "create", "--name", "svc", "--role", "viewer", "--expires-in", "never"]) == 0
    )
    assert "expires: never" in capsys.readouterr().out
    store = open_store(url)
    try:
        made = {t.name: t for t in TokenBook(store).all()}
    finally:
        store.close()
    lives = {n: t.expires_at - t.created_at for n, t in made.items() if t.expires_at}
    assert round(lives["ci"].total_seconds()) == 12 * 3600
    assert round(lives["dflt"].total_seconds()) == 90 * 86400
    assert made["svc"].expires_at is None
    assert main(["token", "create", "--name", "x", "--role", "viewer", "--expires-in", "soon"]) == 2
    assert "--expires-in: 'soon' is no lifetime" in capsys.readouterr().err
