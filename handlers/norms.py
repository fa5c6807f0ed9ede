"""`/plc norms`: the team's norms in the channel, the edit modal, their history and commitments."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from sqlmodel import Session

from bot.render import agenda as render
from handlers import forms
from handlers.agenda import meta_id
from handlers.core import norms as core
from handlers.errors import OUR_FAULT, UserError
from handlers.router import CommandRequest
from scheduling import keys
from scheduling.delivery import Outcome, deliver
from storage import norms as store
from storage.models import Team
from storage.people import load_actor
from storage.rules.agenda import MAX_NORMS, NORM_MAX_LEN, RuleError, clean_norms
from storage.rules.roles import Action, Forbidden, Role, require
from storage.views.norms import NormsChanged

if TYPE_CHECKING:
    from bot.services import Services
    from handlers import Wiring

log = logging.getLogger("plcbot.norms")
USAGE = "`/plc norms` posts them · `/plc norms edit` · `/plc norms who` · `/plc norms history`"


def norms_view(services: Services, team: Team) -> NormsChanged:
    """The team's norms as they stand (`handlers.core.norms.norms_as_they_stand`)."""
    with services.db.read() as session:
        return core.norms_as_they_stand(session, team=team)


def norms_blocks(services: Services, team: Team) -> tuple[str, list[dict[str, Any]]]:
    """The norms post as Block Kit, for refreshing a posted one in place (`chat.update`)."""
    return render.norms_changed(norms_view(services, team))


NOT_IN_CHANNEL = "I can't post in this channel. Invite me with `/invite @plcbot` and try again."
# What the ledger records when Slack refuses the channel itself: the person can fix it by inviting the bot.
CHANNEL_REFUSED = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


def post_norms(request: CommandRequest, services: Services, team: Team) -> None:
    """Post the norms in the team's channel through the delivery ledger, once per `/plc norms`.

    The key is the invocation's trigger id, so a connection dropped after Slack stored the post is
    settled by finding the post, never by posting it again, while each new `/plc norms` posts anew."""
    request_id = request.trigger_id or services.clock.now().isoformat()
    outcome = deliver(services, key=keys.norms_post(team.id, request_id), kind="norms_post",
                      recipient=team.channel_id, view=norms_view(services, team))
    answer_unposted(request, outcome)


def answer_unposted(request: CommandRequest, outcome: Outcome) -> None:
    """Tell the caller what they can do when the post did not settle as sent; silent when it did
    (or when another worker is posting this very request right now)."""
    if outcome.sent or outcome.state == "in_flight":
        return
    if outcome.state == "failed":
        if outcome.error in CHANNEL_REFUSED:
            raise UserError(NOT_IN_CHANNEL)
        # Slack refused the message itself: our fault, and the router apologises for it.
        raise RuntimeError(f"Slack refused the norms post {outcome.key}: {outcome.error}")
    if outcome.error == "ratelimited":
        request.reply("Slack is busy right now and the norms were not posted. Run `/plc norms` again in a minute.")
        return
    # In doubt: Slack did not answer, and the post is not in the channel (yet).
    request.reply("Slack did not confirm the post. If the norms do not appear in the channel in a minute, "
                  "run `/plc norms` again.")


def on_norms(request: CommandRequest, services: Services) -> None:
    """Post the norms, or open the editor, the history or who has not committed yet."""
    team = request.require_team()
    assert team.id is not None
    word = request.args.split(" ", 1)[0].lower() if request.args else ""
    if word == "edit":
        require(request.actor, Action.EDIT_NORMS, team_id=team.id, school_id=team.school_id)
        with services.db.read() as session:
            norms = store.current_norms(session, team_id=team.id)
        request.client.views_open(trigger_id=request.trigger_id, view=render.norms_edit_modal(
            team_id=team.id, norms=norms, max_norms=MAX_NORMS, max_len=NORM_MAX_LEN))
        return
    if word in ("who", "commitments"):
        with services.db.read() as session:
            who = core.commitments(session, request.actor, team=team)
        if who.version == 0:
            request.reply("This team has no norms yet. Write them with `/plc norms edit`.")
            return
        blocks = render.norms_who_blocks(committed=who.committed, pending=who.pending, version=who.version)
        request.reply(f"{len(who.pending)} not yet committed", blocks=blocks)
        return
    if word == "history":
        with services.db.read() as session:
            rows = core.norms_history(session, request.actor, team=team)
        request.reply("Changes to the norms", blocks=render.norms_history_blocks(rows))
        return
    if word:
        raise UserError(f"I don't know `/plc norms {word[:30]}`. {USAGE}")
    core.require_member(request.actor, team)
    post_norms(request, services, team)


def register(app: App, services: Services, wiring: Wiring) -> None:
    wiring.router.add("norms", on_norms, summary="post the team's norms (and commit to them)",
                      usage="/plc norms")
    wiring.router.detail("norms", "/plc norms edit | who | history",
                         "edit the norms, see who has not committed, see past versions", needs=Role.FACILITATOR)

    def on_edit_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Save the edited norms (a new revision), then ask everyone to commit again."""
        user_id = body["user"]["id"]
        team_id = meta_id(view, "team_id")
        raw = ((view["state"]["values"].get("norms") or {}).get("text") or {}).get("value") or ""
        try:
            norms = clean_norms(raw)
        except RuleError as exc:
            ack(response_action="errors", errors={"norms": str(exc)})
            return

        def check(session: Session) -> Team:
            return core.check_norms(session, load_actor(session, user_id, admins=services.settings.admins),
                                    team_id=team_id)

        def write(session: Session, team: Team) -> core.NormsResult:
            actor = load_actor(session, user_id, admins=services.settings.admins)
            return core.write_norms(session, actor, team, norms=norms, now=services.clock.now())

        def failed(team: Team, exc: Exception) -> None:
            log.exception("Failed to save the norms of team %s", team_id, exc_info=exc)
            reason = str(exc) if isinstance(exc, Forbidden) else "something went wrong on our side"
            try:
                services.slack.chat_postEphemeral(channel=team.channel_id, user=user_id,
                                                  text=f"Your norms were not saved ({reason}). Please try again.")
            except Exception:
                log.exception("Failed to tell %s the norms were not saved", user_id)

        saved = forms.submit(ack, services, field="norms", check=check, write=write, failed=failed)
        if saved is None:
            return
        team, result = saved
        try:
            for notice in result.notices:  # none when nothing changed (a double submit)
                assert isinstance(notice.view, core.NormsChanged) and notice.key is not None
                deliver(services, key=notice.key, kind="norms", recipient=team.channel_id, view=notice.view)
        except Exception:
            log.exception("Failed to post the changed norms of team %s", team_id)

    def on_commit(ack: Ack, body: dict[str, Any], respond: Respond, client: Any) -> None:
        """Record "I commit to these norms" for the version on the button."""
        ack()
        user_id = body["user"]["id"]
        try:
            raw = str(body["actions"][0].get("value") or "")
            parts = raw.split(":")
            if len(parts) != 2 or not all(p.isdigit() and len(p) <= 12 for p in parts):
                respond(text="That button no longer works here; run `/plc norms` again.",
                        response_type="ephemeral", replace_original=False)
                return
            team_id, version = int(parts[0]), int(parts[1])
            try:
                with services.db.session() as session:
                    actor = load_actor(session, user_id, admins=services.settings.admins)
                    committed = core.commit_norms(session, actor, team_id=team_id, version=version,
                                                  now=services.clock.now())
                    team = session.get(Team, team_id)
            except UserError as exc:
                respond(text=str(exc), response_type="ephemeral", replace_original=False)
                return
            assert team is not None
            added = committed.added
            respond(text=f":handshake: {committed.reply}" if added else committed.reply,
                    response_type="ephemeral", replace_original=False)
            container = body.get("container") or {}
            # Only the norms message in the team's own channel is refreshed: the container comes from
            # the click's payload, and the bot may edit any message of its own anywhere.
            if added and container.get("type") == "message" and not container.get("is_ephemeral") \
                    and container.get("channel_id") == team.channel_id:
                text, blocks = norms_blocks(services, team)
                client.chat_update(channel=container["channel_id"], ts=container["message_ts"], text=text,
                                   blocks=blocks)
        except Exception:
            log.exception("Failed to record a norms commitment")
            respond(text=OUR_FAULT, response_type="ephemeral", replace_original=False)

    app.view("norms_edit")(on_edit_submit)
    app.action("norms_commit")(on_commit)

