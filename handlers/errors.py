"""Errors a user caused and can fix: shown to them, ephemerally, in plain words."""


class UserError(Exception):
    """Bad input or an impossible request; `str()` is the message shown to the user."""


OUR_FAULT = (
    ":warning: Something went wrong on our side and nothing was changed. "
    "Please try again in a minute; if it keeps happening, tell your plcbot admin."
)


class Invalid(Exception):
    """Raised by a check: inline errors for several fields at once, `{block_id: message}`."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors
