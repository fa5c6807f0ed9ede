"""The Teams front: Microsoft's Teams SDK app (`microsoft-teams-apps` 2.x), built from settings.

Everything the SDK could read from the environment (CLIENT_ID, CLIENT_SECRET, TENANT_ID, CLOUD,
SERVICE_URL, PORT, DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS) is passed explicitly from the
`Settings` object instead; importing the SDK also copies the working folder's `.env` into the
environment (FIELD-NOTES), which is why `bot.settings.load` runs before this module is imported.

Security: every request to `POST /api/messages` goes through the SDK's `HttpServer`, which
validates the Bearer JWT (signature from the keys named by TEAMS_OPENID_METADATA_URL, issuer,
audience = TEAMS_CLIENT_ID, expiry, and the `serviceurl` claim equal to the activity's
`serviceUrl`) before it parses the activity, and answers 401 otherwise. No setting turns that
off: this module passes `dangerously_allow_unauthenticated_requests=False` explicitly (so the
SDK's environment variable of that name is ignored) and `refuse_unauthenticated_switch` makes
`plcbot run` exit 2 if that variable is set at all. A `serviceUrl` the bot replies to or
stores therefore always comes from a validated request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI
from microsoft_teams.api import InvokeResponse
from microsoft_teams.api.activities.message.message import MessageActivityInput
from microsoft_teams.api.auth.cloud_environment import PUBLIC
from microsoft_teams.api.auth.credentials import TokenCredentials
from microsoft_teams.api.models import Attachment
from microsoft_teams.apps import App
from microsoft_teams.apps.http.fastapi_adapter import FastAPIAdapter
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.services import Services
from bot.settings import SettingError, Settings
from bot.teams import card_kit as ck
from bot.teams.auth import BotTokenProvider
from storage.identities import person_for_identity, team_for_place
from storage.models import Person, PersonIdentity, TeamPlace
from storage.models.identities import TEAMS
from storage.models.work import Delivery

log = logging.getLogger("plcbot.teams")

ADAPTIVE_CARD = ck.ADAPTIVE
MESSAGING_ENDPOINT = "/api/messages"
# The SDK's default for proactive sends with no conversation reference; never used for a reply
# (replies go to the validated activity's serviceUrl), passed so SERVICE_URL is never read.
DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams"
UNAUTHENTICATED_SWITCH = "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS"
T = TypeVar("T")


def refuse_unauthenticated_switch(*envs: Mapping[str, str | None]) -> None:
    """`plcbot run` never starts with the SDK's switch that accepts unsigned requests, whatever its value."""
    for env in (os.environ, *envs):
        if (env.get(UNAUTHENTICATED_SWITCH) or "").strip():
            raise SettingError(UNAUTHENTICATED_SWITCH, "is set. It would let anyone post unsigned activities to "
                               "the bot; plcbot always checks Teams' signature. Remove it from the environment "
                               "and from .env.")


def cloud_for(settings: Settings) -> Any:
    """Microsoft's public cloud with the two endpoints the settings name (sovereign clouds, tests)."""
    return dataclasses.replace(PUBLIC, openid_metadata_url=settings.teams_openid_metadata_url,
                               login_endpoint=settings.teams_login_url)


class _PlcApp(App):
    """The SDK app, its credentials always the token provider: the SDK would otherwise prefer an
    environment CLIENT_SECRET (its MSAL path) over `token=`, and cannot reach a non-public login URL."""

    def _init_credentials(self) -> TokenCredentials | None:  # type: ignore[override]
        options = self.options
        assert options.client_id and options.token is not None
        return TokenCredentials(client_id=options.client_id, tenant_id=options.tenant_id, token=options.token)


def card_message(text: str, card: dict[str, Any]) -> MessageActivityInput:
    """A message carrying one Adaptive Card, with `text` as its notification summary."""
    return MessageActivityInput(text=text, attachments=[Attachment(content_type=ADAPTIVE_CARD, content=card)])


def raw(activity: Any) -> dict[str, Any]:
    """The activity as Teams sent it (camelCase keys)."""
    return activity.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def welcome_card(scope: str) -> tuple[str, dict[str, Any]]:
    where = {"personal": "here in our chat", "groupChat": "in this chat"}.get(scope, "in a team channel")
    body = [
        ck.heading("👋 Hi, I'm plcbot"),
        ck.text("I run your PLC: the agenda with norms and the cycle goal, weekly check-ins, meeting "
                "feedback and the principal's digest, all from the same rules as on Slack."),
        ck.text("**To start:** a facilitator types **@plcbot setup** in the team's channel to set the team up "
                "(name, school, members, facilitators, schedule)."),
        ck.subtle(f"Type **help** {where} (or **@plcbot help** in a channel) to see every command."),
    ]
    return "Hi, I'm plcbot. To start, type @plcbot setup in your team's channel.", ck.card(body)


def welcome_key(conversation_id: str) -> str:
    """The ledger key of the welcome in one conversation (hashed: Teams ids are long)."""
    return "teams_welcome:" + hashlib.sha256(conversation_id.encode()).hexdigest()[:40]


@dataclasses.dataclass(frozen=True)
class Who:
    """The sender of a validated activity, and where it came from."""

    user_id: str  # 29:…
    aad_object_id: str | None
    name: str
    tenant: str
    service_url: str
    conversation_id: str  # without ;messageid=
    conversation_type: str  # personal | channel | groupChat
    team_id: str | None
    tz: str | None

    @classmethod
    def of(cls, activity: dict[str, Any], default_tenant: str) -> Who:
        sender = activity.get("from") or {}
        conversation = activity.get("conversation") or {}
        channel_data = activity.get("channelData") or {}
        tenant = (conversation.get("tenantId") or (channel_data.get("tenant") or {}).get("id") or default_tenant)
        return cls(
            user_id=str(sender.get("id") or ""),
            aad_object_id=sender.get("aadObjectId"),
            name=str(sender.get("name") or "")[:200],
            tenant=str(tenant).lower(),
            service_url=str(activity.get("serviceUrl") or ""),
            conversation_id=str(conversation.get("id") or "").split(";messageid=", 1)[0],
            conversation_type=str(conversation.get("conversationType") or "personal"),
            team_id=(channel_data.get("team") or {}).get("id"),
            tz=activity.get("localTimezone"),
        )


def remember_person(services: Services, who: Who) -> Person:
    """The person behind a Teams user: found by their Teams identity, or else attached to (or made
    with) one (`_first_seen`). A 1:1 chat and the service URL (from this validated request) are kept
    as their conversation reference. Someone already known costs no more than that lookup."""
    with services.db.session() as session:
        person = person_for_identity(session, TEAMS, who.tenant, who.user_id)
        if person is not None:
            assert person.id is not None
            identity = session.exec(select(PersonIdentity).where(
                PersonIdentity.person_id == person.id, PersonIdentity.platform == TEAMS,
                PersonIdentity.workspace == who.tenant, PersonIdentity.external_id == who.user_id)).one()
            _keep_reference(session, services, who, person, identity)
    if person is None:
        person = _first_seen(services, who)
    if person.email is None and person.forgotten_at is None and any("@" in a for a in services.settings.admins):
        learn_email(services, who, person)
    return person


def _keep_reference(session: Any, services: Services, who: Who, person: Person, identity: PersonIdentity) -> None:
    """The sender's 1:1 chat and service URL on their Teams identity, and their Entra object id as an
    identity too (as the set-up's roster stores it: PLCBOT_ADMINS may name it)."""
    assert person.id is not None
    if who.conversation_type == "personal":
        identity.conversation_id = who.conversation_id
    identity.service_url = who.service_url
    session.add(identity)
    aad = (who.aad_object_id or "").lower()
    if aad and len(aad) <= 255 and session.exec(select(PersonIdentity.id).where(
            PersonIdentity.platform == TEAMS, PersonIdentity.workspace == who.tenant,
            PersonIdentity.external_id == aad)).first() is None:
        session.add(PersonIdentity(person_id=person.id, platform=TEAMS, workspace=who.tenant, external_id=aad,
                                   service_url=who.service_url, created_at=services.clock.now()))
    session.flush()
    session.expunge(person)


def _first_seen(services: Services, who: Who) -> Person:
    """A Teams user the bot has no Teams identity for, writing to it (before any set-up or @mention).

    Found the way the set-up's roster finds people (`bot.teams.setup.known_person`): by their Entra
    object id, the Teams id the core names them with, or else their e-mail, when it names exactly one
    person, not erased, who is not on Teams yet (`storage.linking.person_for_email`: a teacher known
    on Slack). The e-mail is in their member profile, asked of Teams once (`setup.member_profile`, the
    conversation's members API) and only when the cheaper ways found nobody. Their Teams account is
    then attached to that person (`setup.teams_people`) instead of making a second one; nobody
    found, a person is made, named in the core by their Teams id."""
    from bot.teams import setup

    where = setup.Where(tenant=who.tenant, service_url=who.service_url, conversation_id=who.conversation_id,
                        team_id=who.team_id or "", user_id=who.user_id, aad_object_id=who.aad_object_id)
    aad = (who.aad_object_id or "").lower()
    member = setup.Member(who.user_id, aad if aad and len(aad) <= 255 else None, who.name or "Teams user", None)
    with services.db.read() as session:
        known = setup.known_person(session, member, where)
    if known is None:
        _EMAIL_ASKED.add(who.user_id)  # `learn_email` would ask for the same profile
        profile = setup.member_profile(services, where, who.user_id, member.name)
        member = setup.Member(who.user_id, profile.aad_object_id or member.aad_object_id, profile.name,
                              profile.email)
    now = services.clock.now()
    with services.db.session() as session:
        person = setup.teams_people(session, [member], where, now=now)[member.id]
        if person.tz is None and who.tz and person.forgotten_at is None:
            person.tz = who.tz
        assert person.id is not None
        identity = session.exec(select(PersonIdentity).where(
            PersonIdentity.platform == TEAMS, PersonIdentity.workspace == who.tenant,
            PersonIdentity.external_id == who.user_id)).one()
        _keep_reference(session, services, who, person, identity)
    return person


_EMAIL_ASKED: set[str] = set()  # Teams ids whose e-mail this process asked for (asked once)


def learn_email(services: Services, who: Who, person: Person) -> None:
    """PLCBOT_ADMINS names people by e-mail: ask Teams once for this sender's address (the Bot
    Connector's member profile, `GET …/conversations/{id}/members/{user}`) and keep it on the person,
    as the set-up's roster does. Best effort: a failure leaves the person without an e-mail."""
    if who.user_id in _EMAIL_ASKED or not who.service_url or not who.conversation_id:
        return
    _EMAIL_ASKED.add(who.user_id)
    from urllib.parse import quote

    try:
        transport: Any = services.transports["teams"]
        url = (who.service_url.rstrip("/") + "/v3/conversations/" + quote(who.conversation_id, safe=":@.")
               + "/members/" + quote(who.user_id, safe=":@."))
        answer = transport._request("GET", url, op="members", conversation=who.conversation_id, idempotent=True)
    except Exception as exc:  # noqa: BLE001 - best effort: an admin named by e-mail is then not recognised
        log.warning("Could not read a Teams member's e-mail (%s)", type(exc).__name__)
        return
    email = answer.get("email") or answer.get("userPrincipalName") if isinstance(answer, dict) else None
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        return
    with services.db.session() as session:
        stored = session.get(Person, person.id)
        if stored is not None and stored.email is None and stored.forgotten_at is None:
            stored.email = email
            session.add(stored)
    person.email = email


def place_of_team(services: Services, team_id: int) -> str | None:
    """The chat place a team's notices go to: its Teams place when it has one, else its channel."""
    from storage.identities import place_of
    from storage.models import Team

    with services.db.read() as session:
        found = place_of(session, team_id)
        if found is not None:
            return str(found.place_id)
        team = session.get(Team, team_id)
        return team.channel_id if team is not None else None


def remember_place(services: Services, who: Who) -> None:
    """A PLC team already set up in this channel or chat gets the service URL of this validated request."""
    with services.db.session() as session:
        team = team_for_place(session, TEAMS, who.tenant, who.conversation_id)
        if team is None or team.id is None:
            return
        place = session.exec(select(TeamPlace).where(
            TeamPlace.team_id == team.id, TeamPlace.platform == TEAMS, TeamPlace.workspace == who.tenant,
            TeamPlace.place_id == who.conversation_id)).one()
        if place.service_url != who.service_url:
            place.service_url = who.service_url
            session.add(place)


class TeamsFront:
    """The SDK app, its FastAPI server (`POST /api/messages`, `GET /healthz`), and the thread pool
    the core's synchronous actions run in."""

    def __init__(self, settings: Settings, services: Services, *,
                 health: Callable[[], tuple[int, dict[str, Any]]] | None = None) -> None:
        settings.require_teams()
        refuse_unauthenticated_switch()
        assert settings.teams_client_id and settings.teams_client_secret and settings.teams_tenant_id
        self.settings, self.services = settings, services
        self.token = BotTokenProvider(login_url=settings.teams_login_url, tenant_id=settings.teams_tenant_id,
                                      client_id=settings.teams_client_id, client_secret=settings.teams_client_secret)
        # The core is synchronous (SQLModel sessions) and the SDK asyncio: each action runs in a
        # worker thread. The pool is Slack's listener pool size (PLCBOT_LISTENER_THREADS, 32 by
        # default), the concurrency the core and its database pool are sized and benchmarked for;
        # one slow query holds one thread, never the event loop.
        self.limiter = anyio.CapacityLimiter(settings.listener_threads)
        # Answers to typed commands are sent after the request was acknowledged, from a pool of their
        # own: one waiting out a 429 storm holds a thread of this pool, never one an invoke (5 s) needs.
        self.reply_limiter = anyio.CapacityLimiter(settings.listener_threads)
        self.stopping = threading.Event()  # set on shutdown: answers still rate limited stop waiting
        self._background: set[asyncio.Task[None]] = set()
        self.fastapi = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        self.started = False
        self._health = health
        self._owing: set[asyncio.Task[None]] = set()  # what answered invokes still owe (kept from the GC)
        self.app = _PlcApp(
            client_id=settings.teams_client_id,
            tenant_id=settings.teams_tenant_id,
            token=self.token,
            cloud=cloud_for(settings),
            service_url=DEFAULT_SERVICE_URL,
            http_server_adapter=FastAPIAdapter(app=self.fastapi),
            messaging_endpoint=MESSAGING_ENDPOINT,
            dangerously_allow_unauthenticated_requests=False,
            state=False,
            fetch_user_token=False,
        )
        assert self.app.options.dangerously_allow_unauthenticated_requests is False
        self.fastapi.get("/healthz")(self._healthz)
        self._register()

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one of the core's synchronous functions in the pool."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self.limiter)

    async def run_reply(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking send (paced, retried) in the answers' pool."""
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self.reply_limiter)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Go on with `work` after the request is answered (a reference is kept until it is done)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def stop(self) -> None:
        """Shutting down: answers waiting out a rate limit give up (their rows stay pending)."""
        self.stopping.set()

    async def initialize(self) -> None:
        """Register `POST /api/messages` with its JWT validation (before the server accepts requests)."""
        await self.app.initialize()
        self.started = True

    # ------------------------------------------------------------------ health
    def teams_state(self) -> str:
        if not self.started:
            return "starting"
        try:
            self.token.token()
        except Exception as exc:
            return f"error: token endpoint unreachable ({type(exc).__name__})"
        return "ok"

    async def _healthz(self) -> Any:
        from fastapi.responses import JSONResponse

        from bot import health

        if self._health is not None:
            status, body = await self.run_sync(self._health)
        else:
            status, body = await self.run_sync(health.report, self.services, None, self.teams_state)
        return JSONResponse(body, status_code=status)

    # ------------------------------------------------------------------ activities
    def _register(self) -> None:
        from bot.teams import commands

        app = self.app

        @app.on_conversation_update
        async def on_conversation_update(ctx: Any) -> None:
            await self.on_install(ctx)

        @app.on_message
        async def on_message(ctx: Any) -> None:
            await commands.handle(self, ctx)

        @app.on_invoke
        async def on_invoke(ctx: Any) -> Any:
            return await self.on_invoke(ctx)

    async def on_install(self, ctx: Any) -> None:
        activity = raw(ctx.activity)
        added = [m.get("id") for m in activity.get("membersAdded") or []]
        bot_id = (activity.get("recipient") or {}).get("id")
        if not bot_id or bot_id not in added:
            return
        who = Who.of(activity, self.settings.teams_tenant_id or "")
        if who.user_id and who.conversation_type == "personal":
            await self.run_sync(remember_person, self.services, who)
        await self.run_sync(remember_place, self.services, who)
        key = welcome_key(who.conversation_id)
        claimed = await self.run_sync(self._claim, key)
        if not claimed:
            log.info("Teams install in a %s again: already welcomed", who.conversation_type)
            return
        text, card = welcome_card(who.conversation_type)
        message = {"type": "message", "text": text,
                   "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}]}
        await self.run_sync(self._welcome, key, who.conversation_id, str(activity.get("serviceUrl") or ""), message)

    def _welcome(self, key: str, conversation: str, service_url: str, message: Mapping[str, Any]) -> None:
        """Post the welcome through the Teams transport (paced, retried on a 429 like every message);
        a post Teams never took drops the row, so a reinstall welcomes again."""
        transport: Any = self.services.transports["teams"]
        try:
            sent = transport.post(conversation, message, service_url=service_url)
        except Exception:
            log.exception("Could not post the Teams welcome")
            self._settle(key, None)
            return
        self._settle(key, sent.id or "sent")

    def _claim(self, key: str) -> bool:
        """Take the welcome's ledger row; False when this conversation was welcomed (or is being)."""
        try:
            with self.services.db.session() as session:
                session.add(Delivery(key=key, kind="teams_welcome", place=key[-32:], state="sending"))
        except IntegrityError:
            return False
        return True

    def _settle(self, key: str, activity_id: str | None) -> None:
        """Sent: mark the row. Failed before Teams took it: drop the row so a reinstall welcomes again."""
        with self.services.db.session() as session:
            row = session.exec(select(Delivery).where(Delivery.key == key)).one()
            if activity_id is None:
                session.delete(row)
            else:
                row.state, row.ts = "sent", activity_id[:32]
                session.add(row)

    async def on_invoke(self, ctx: Any) -> Any:
        """Card actions, dialogs and file consent: `bot.teams.invokes.handle` answers in a worker
        thread, well inside Teams' 5 seconds, and the answer goes back at once. What the invoke owes
        afterwards (a card to post in its conversation, a card to update, notices for others through
        the ledger, the wrap-up's log) follows in the pool once Teams has its answer, through the
        Teams transport: paced under Teams' limits and retried on a 429, so a conversation's
        message budget, full after a burst of posts, never holds up the answer nor loses what follows."""
        from bot.teams import invokes

        activity = raw(ctx.activity)
        answer = await self.run_sync(invokes.handle, self.services, activity)
        if any(answer.get(part) for part in ("send", "update", "notices", "after")):
            task = asyncio.get_running_loop().create_task(self.run_sync(self._owed, activity, answer))
            self._owing.add(task)
            task.add_done_callback(self._owing.discard)
        return InvokeResponse(status=int(answer.get("status") or 200), body=answer.get("body"))

    def _owed(self, activity: dict[str, Any], answer: Mapping[str, Any]) -> None:
        """What an answered invoke owes, in order: its posts, its updates, notices, then the rest."""
        transport: Any = self.services.transports["teams"]
        conversation = str((activity.get("conversation") or {}).get("id") or "")
        service_url = str(activity.get("serviceUrl") or "")
        for message in answer.get("send") or ():
            try:
                transport.post(conversation, message, service_url=service_url)
            except Exception:
                log.exception("Failed to post what a Teams invoke owed in its conversation")
        for change in answer.get("update") or ():
            try:
                transport.put(change.get("conversation_id") or conversation, change["activity_id"],
                              change["activity"], service_url=service_url)
            except Exception:
                log.exception("Failed to update a card after a Teams invoke")
        notices = list(answer.get("notices") or ())
        if notices:
            self._deliver_notices(notices)
        for then in answer.get("after") or ():
            try:
                then()
            except Exception:
                log.exception("Failed to send what a Teams invoke owed")

    def _deliver_notices(self, notices: list[Any]) -> None:
        deliver_notices(self.services, notices)


def deliver_notices(services: Services, notices: list[Any]) -> None:
    """Each notice once, through the ledger and the transport of its recipient's platform (after an
    invoke, or a typed command, has answered)."""
    from scheduling import delivery

    for notice in notices:
        if notice.key is None:
            continue
        recipient = notice.person
        if recipient is None and notice.team_id is not None:
            recipient = place_of_team(services, notice.team_id)
        if recipient is None:
            continue
        try:
            delivery.deliver(services, key=notice.key, kind=type(notice.view).__name__.lower(),
                             recipient=recipient, view=notice.view)
        except Exception:
            log.exception("Failed to deliver a notice after a Teams action (%s)", notice.key)
