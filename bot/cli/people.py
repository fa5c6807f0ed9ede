"""`plcbot people link A B`: the same teacher known twice (on Slack and on Teams) becomes one person.

    plcbot people link U012ABCDEF 29:1abc…            (dry run)   --apply to do it
    plcbot people link U012ABCDEF maria@school.org

A and B are named as elsewhere in `plcbot`: a Slack user id, or a Teams user id (29:…), an Entra
object id, or an e-mail address that exactly one person has. B is merged into A (see
`storage/linking.py`): their check-ins, roles and history are A's, their chat accounts too, and
B's row goes. A refusal (an erased person, two Slack accounts, the same check-in week answered
twice) changes nothing and says why. Audited with the actor "cli:<login>".
"""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import CliError, cli_actor, services_from
from storage import linking
from storage.feedback import install_link_key


def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("people", help="people known on several platforms: link two rows into one person")
    psub = p.add_subparsers(dest="people_command", metavar="ACTION")
    psub.required = True
    k = psub.add_parser("link", help="merge person B into person A (the same teacher on Slack and Teams)",
                        description="A dry run that changes nothing unless --apply; prints what moves.")
    k.add_argument("keep", metavar="A", help="the person to keep: Slack user id, Teams id (29:…), Entra object id "
                   "or e-mail address")
    k.add_argument("drop", metavar="B", help="the person merged into A (same forms)")
    k.add_argument("--apply", action="store_true", help="do it (default: a dry run that changes nothing)")
    k.set_defaults(func=link)


def link(args: argparse.Namespace) -> int:
    services = services_from(args)
    try:
        # A dry run reads only (no write lock); --apply is one transaction, rolled back on a refusal.
        with (services.db.session() if args.apply else services.db.read()) as session:
            keep = linking.find(session, args.keep)
            drop = linking.find(session, args.drop)
            report = linking.link_people(session, keep, drop, actor=cli_actor(), now=services.clock.now(),
                                         apply=args.apply, link_key=install_link_key(services.settings))
    except linking.LinkError as exc:
        raise CliError(str(exc)) from None
    finally:
        services.db.dispose()
    print("\n".join(report.lines()))
    sys.stdout.flush()
    return 0
