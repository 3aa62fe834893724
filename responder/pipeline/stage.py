"""The stage protocol, in the manner of Alertmanager's ``notify.Stage``: a
stage takes an incident's update, does one thing to it and says whether the
update goes on to the next stage; ``run`` chains stages and stops at the
first that says no. Stages write nothing to the store themselves: what an
update changes goes to its batch's writes (and the incident it carries),
which the runner commits under the incident's lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from responder.records.update import Update


class Stage(Protocol):
    name: str

    def __call__(self, update: Update) -> bool:
        """Do this stage's part; False ends the update's turn here."""


def run(stages: Sequence[Stage], update: Update) -> Update:
    """Pass ``update`` through ``stages`` in order until one ends its turn."""
    for stage in stages:
        if not stage(update):
            break
    return update
