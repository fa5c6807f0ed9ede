"""handlers.forms.submit, the order every modal submit keeps: check read-only, ack, then write.

The scenario tests show each form's answers; these pin the order itself: nothing opens a write
transaction before Slack has its ack, and a refused form never opens one at all.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from handlers import forms
from handlers.errors import OUR_FAULT, UserError
from storage.rules.agenda import RuleError
from storage.rules.roles import Action, Forbidden, Role


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []

    @contextmanager
    def read(self):  # noqa: ANN202
        self.events.append("read")
        yield "read-session"

    @contextmanager
    def session(self):  # noqa: ANN202
        self.events.append("write")
        yield "write-session"

    def ack(self, **kwargs: object) -> None:
        self.events.append(("ack", kwargs))


def run(check, write=None, failed=None, **options):  # noqa: ANN001, ANN201, ANN003
    db = Recorder()
    services = SimpleNamespace(db=db)
    result = forms.submit(db.ack, services, field="title", check=check,
                          write=write or (lambda session, checked: (session, checked)),
                          failed=failed or (lambda checked, exc: db.events.append(("failed", checked, exc))),
                          **options)
    return result, db.events


def test_ack_comes_after_the_read_and_before_the_one_write():
    result, events = run(lambda session: f"checked in {session}")
    assert events == ["read", ("ack", {}), "write"]
    assert result == ("checked in read-session", ("write-session", "checked in read-session"))


@pytest.mark.parametrize("refusal, errors", [
    (RuleError("Too long.", field="minutes"), {"minutes": "Too long."}),
    (RuleError("That meeting no longer exists."), {"title": "That meeting no longer exists."}),
    (UserError("This team no longer exists."), {"title": "This team no longer exists."}),
    (Forbidden(Action.EDIT_NORMS, Role.FACILITATOR), {"title": str(Forbidden(Action.EDIT_NORMS, Role.FACILITATOR))}),
    (forms.Invalid({"a1_owner": "Choose who owns this.", "a2_text": "Say what."}),
     {"a1_owner": "Choose who owns this.", "a2_text": "Say what."}),
])
def test_a_refusal_is_answered_inline_and_nothing_is_written(refusal, errors):
    def check(session):  # noqa: ANN001, ANN202
        raise refusal

    result, events = run(check)
    assert result is None
    assert events == ["read", ("ack", {"response_action": "errors", "errors": errors})]


def test_an_unexpected_error_while_checking_is_logged_and_shown_as_our_fault(caplog):
    def check(session):  # noqa: ANN001, ANN202
        raise KeyError("boom")

    result, events = run(check, unexpected="Failed to check a test form")
    assert result is None
    assert events == ["read", ("ack", {"response_action": "errors", "errors": {"title": OUR_FAULT}})]
    assert "Failed to check a test form" in caplog.text and "KeyError" in caplog.text


def test_a_failed_write_is_told_after_the_ack():
    problem = Forbidden(Action.EDIT_NORMS, Role.FACILITATOR)

    def write(session, checked):  # noqa: ANN001, ANN202
        raise problem

    result, events = run(lambda session: "team", write=write)
    assert result is None
    assert events == ["read", ("ack", {}), "write", ("failed", "team", problem)]
