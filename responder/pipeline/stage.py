"""The stage protocol, in the manner of Alertmanager's ``notify.Stage``: a
stage takes an incident's update, does one thing to it and says whether the
update goes on to the next stage; ``run`` chains stages and stops at the
first that says no. Stages write nothing to the store themselves: what an
update changes goes to its batch's writes (and the incident it carries),
which the runner commits under the incident's lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from responder.records.update import Update


class Stage(Protocol):
    name: str

    def __call__(self, update: Update) -> bool:
        """Do this stage's part; False ends the update's turn here."""


@runtime_checkable
class BatchStage(Protocol):
    name: str

    def __call__(self, update: Update) -> bool: ...

    def batch(self, updates: Sequence[Update]) -> list[bool]:
        """This stage's part for several updates at once, one verdict each."""


def run(stages: Sequence[Stage], update: Update) -> Update:
    """Pass ``update`` through ``stages`` in order until one ends its turn."""
    for stage in stages:
        if not stage(update):
            break
    return update


def run_batch(stages: Sequence[Stage], updates: Sequence[Update]) -> None:
    """Pass each of ``updates`` through ``stages``, stage by stage: every
    update still going passes a stage, in order, before any passes the next.
    A ``BatchStage`` takes them together (the observe stage collects their
    evidence in parallel). The updates of a batch are of different incidents,
    so only a stage's effect on the batch's shared view could tell the orders
    apart, and each stage still sees the updates one after the other."""
    going = list(updates)
    for stage in stages:
        if not going:
            return
        if isinstance(stage, BatchStage):
            verdicts = stage.batch(going)
        else:
            verdicts = [stage(update) for update in going]
        going = [update for update, ok in zip(going, verdicts, strict=True) if ok]
