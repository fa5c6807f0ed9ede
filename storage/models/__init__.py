"""All tables. Import this package to register every model on `SQLModel.metadata`.

Each feature keeps its tables in its own module here; add the module to the imports below.
"""

from storage.models.base import UTCDateTime
from storage.models.checkins import Checkin, CheckinRound, CycleReflection, SchoolBreak, SupportRequest
from storage.models.core import AuditEntry, Membership, Person, School, SchoolLeader, SchoolYear, Team
from storage.models.feedback import Feedback
from storage.models.identities import PersonIdentity, TeamPlace
from storage.models.meetings import (
    ActionItem,
    AgendaItem,
    Attendance,
    MeetingRecord,
    Norm,
    NormCommitment,
    NormRevision,
)
from storage.models.plc import Cycle, Meeting
from storage.models.work import Delivery, Heartbeat, ScheduledJob

__all__ = [
    "Checkin",
    "CheckinRound",
    "CycleReflection",
    "SchoolBreak",
    "SupportRequest",
    "ActionItem",
    "AgendaItem",
    "Attendance",
    "MeetingRecord",
    "Norm",
    "NormCommitment",
    "NormRevision",
    "AuditEntry",
    "Cycle",
    "Delivery",
    "Feedback",
    "Heartbeat",
    "Meeting",
    "Membership",
    "Person",
    "PersonIdentity",
    "ScheduledJob",
    "School",
    "SchoolLeader",
    "SchoolYear",
    "Team",
    "TeamPlace",
    "UTCDateTime",
]
