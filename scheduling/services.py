"""What scheduled work is given, as the core sees it: the database, the clock, the transports and
the few settings it reads. A protocol of the core's own, so that `scheduling/` depends on no
front's assembly; `bot.services.Services` (with its Slack clients) is one that fits."""

from __future__ import annotations

from typing import Protocol

from scheduling.clock import Clock
from scheduling.transport import Transports
from storage.db import Database
from storage.feedback import LinkSecrets


class Settings(LinkSecrets, Protocol):
    """The settings scheduled work reads (`bot.settings.Settings` has them), with the secrets the
    anonymous links' key is derived from (`storage.feedback.LinkSecrets`)."""

    @property
    def timezone(self) -> str: ...  # the default for schools and teams without their own, an IANA name

    @property
    def school_hours(self) -> str: ...  # PLCBOT_SCHOOL_HOURS, parsed by `scheduling.hours`

    @property
    def scheduler_interval(self) -> float: ...  # seconds between ticks

    @property
    def min_group_size(self) -> int: ...  # fewest answers an average is shown for

    # Retention (`scheduling.retention`): how long records stay.
    @property
    def retention_years(self) -> int: ...

    @property
    def school_year_start(self) -> tuple[int, int]: ...

    @property
    def forget_deactivated_days(self) -> int: ...


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def transports(self) -> Transports: ...
