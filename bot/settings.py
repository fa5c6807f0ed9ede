"""One typed settings object, read once at start from the environment and `.env`.

Every setting is documented in `.env.example`. A bad value raises `SettingError`, whose
message names the variable and says what to do, so `plcbot run` can stop with one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SCHOOL_HOURS = "Mon-Fri 07:00-18:00"
# Microsoft's public cloud. Sovereign clouds (and the test suite's loopback stand-in) set these.
TEAMS_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
TEAMS_LOGIN_URL = "https://login.microsoftonline.com"
TEAMS_PORT = 3978
TEAMS_APP_RATE = 50
_SECRET_FIELDS = {"bot_token", "app_token", "signing_secret", "secret_key", "teams_client_secret"}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SettingError(ValueError):
    """A setting is missing or malformed; `str()` is the one line shown to the operator."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    """The bot's configuration. Secrets are masked in `repr` so they never reach a log."""

    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    slack_api_url: str = SLACK_API_URL
    database_url: str = "sqlite:///plcbot.db"
    timezone: str = "America/New_York"
    admins: frozenset[str] = frozenset()
    host: str = "0.0.0.0"  # noqa: S104 - HTTP mode must be reachable by Slack
    port: int = 3000
    health_port: int = 3001
    log_level: str = "INFO"
    listener_threads: int = 32
    http_threads: int = 16
    web_workers: int = 2
    scheduler_interval: float = 20.0
    school_hours: str = DEFAULT_SCHOOL_HOURS
    min_group_size: int = 3
    secret_key: str | None = None
    retention_years: int = 3  # school years a record is kept after the year it belongs to
    forget_deactivated_days: int = 365  # 0: never forget deactivated accounts automatically
    school_year_start: tuple[int, int] = (8, 1)  # (month, day) a school year starts, by default
    # Microsoft Teams: on when teams_client_id is set (a single-tenant Azure Bot / Entra app).
    teams_client_id: str | None = None
    teams_client_secret: str | None = None
    teams_tenant_id: str | None = None
    teams_port: int = TEAMS_PORT
    # Requests a second the bot sends to Teams for one tenant (Microsoft's per-app limit; the
    # transport paces all sends under it, beside each conversation's own limits).
    teams_app_rate: int = TEAMS_APP_RATE
    teams_openid_metadata_url: str = TEAMS_OPENID_METADATA_URL
    teams_login_url: str = TEAMS_LOGIN_URL
    teams_public_url: str | None = None  # https://host[/path]: the messaging endpoint is <this>/api/messages
    teams_privacy_url: str | None = None  # the app's privacy link in Teams; default teams_public_url
    teams_terms_url: str | None = None  # the app's terms-of-use link in Teams; default teams_public_url
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.bot_token)

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_client_id)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = "***"
            if f.name == "extra":
                continue
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    def require_slack(self) -> None:
        """Check what `plcbot run` needs before anything starts."""
        if not self.bot_token:
            raise SettingError(
                "SLACK_BOT_TOKEN",
                "is not set. Copy the Bot User OAuth Token (xoxb-…) from your Slack app's "
                "OAuth & Permissions page into .env (see README, 'Create the Slack app').",
            )
        if not self.socket_mode and not self.signing_secret:
            raise SettingError(
                "SLACK_SIGNING_SECRET",
                "is not set, and SLACK_APP_TOKEN is not set either. Set SLACK_APP_TOKEN (xapp-…) "
                "for Socket Mode, or SLACK_SIGNING_SECRET (Basic Information page) for HTTP mode.",
            )

    def require_teams(self) -> None:
        """What serving Teams needs: the bot registration's client id, its secret and its tenant."""
        if not self.teams_client_id:
            raise SettingError(
                "TEAMS_CLIENT_ID",
                "is not set. Copy the Application (client) ID of your Azure Bot's Entra app registration "
                "into .env (see README, 'Create the Teams app').",
            )
        if not self.teams_client_secret:
            raise SettingError(
                "TEAMS_CLIENT_SECRET",
                "is not set. Create a client secret under Certificates & secrets in the Entra app "
                "registration and copy its Value into .env.",
            )
        if not self.teams_tenant_id:
            raise SettingError(
                "TEAMS_TENANT_ID",
                "is not set. Copy the Directory (tenant) ID from the Entra app registration's Overview "
                "page into .env (the bot is registered single-tenant).",
            )

    def require_fronts(self) -> None:
        """What `plcbot run` needs: Slack, Teams or both, each complete, and no half-set front.

        A district on Teams only needs no Slack token, and one on Slack only no Teams setting.
        """
        if not self.slack_enabled and not self.teams_enabled:
            raise SettingError(
                "SLACK_BOT_TOKEN",
                "is not set, and TEAMS_CLIENT_ID is not set either. Set SLACK_BOT_TOKEN (xoxb-…) for "
                "Slack (README, 'Create the Slack app'), TEAMS_CLIENT_ID for Microsoft Teams (README, "
                "'Create the Teams app'), or both.",
            )
        if not self.slack_enabled and (self.app_token or self.signing_secret):
            given = "SLACK_APP_TOKEN" if self.app_token else "SLACK_SIGNING_SECRET"
            raise SettingError(
                "SLACK_BOT_TOKEN",
                f"is not set, but {given} is. Set SLACK_BOT_TOKEN to serve Slack too, or empty {given} "
                "to serve Teams only.",
            )
        if not self.teams_enabled and (self.teams_client_secret or self.teams_tenant_id):
            given = "TEAMS_CLIENT_SECRET" if self.teams_client_secret else "TEAMS_TENANT_ID"
            raise SettingError(
                "TEAMS_CLIENT_ID",
                f"is not set, but {given} is. Set TEAMS_CLIENT_ID to serve Teams too, or empty {given} "
                "to serve Slack only.",
            )
        if self.slack_enabled:
            self.require_slack()
        if self.teams_enabled:
            self.require_teams()
            if self.slack_enabled and not self.socket_mode and self.teams_port == self.port:
                raise SettingError("TEAMS_PORT", f"is {self.teams_port}, the same as PORT (Slack's HTTP "
                                   "port); give one of the two another port.")
            if self.slack_enabled and self.socket_mode and self.teams_port == self.health_port:
                raise SettingError("TEAMS_PORT", f"is {self.teams_port}, the same as PLCBOT_HEALTH_PORT; "
                                   "give one of the two another port.")

    def require_teams_package(self) -> None:
        """What `plcbot teams package` needs: the bot's client id and its public address."""
        if not self.teams_client_id:
            raise SettingError(
                "TEAMS_CLIENT_ID",
                "is not set. The app package names the bot by the Application (client) ID of its Entra "
                "app registration; copy it into .env (see README, 'Create the Teams app').",
            )
        if not self.teams_public_url:
            raise SettingError(
                "TEAMS_PUBLIC_URL",
                "is not set. Give the bot's public https address, the Azure Bot's messaging endpoint "
                "without /api/messages, e.g. https://plcbot.example.org.",
            )


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(name, f"must be a whole number, got {raw!r}.") from None
    if not low <= value <= high:
        raise SettingError(name, f"must be between {low} and {high}, got {value}.")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(name, f"must be a number, got {raw!r}.") from None
    if not low <= value <= high:
        raise SettingError(name, f"must be between {low} and {high}, got {value}.")
    return value


def _month_day(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """A day of the year as MM-DD (no year), e.g. 08-01 for the first of August."""
    raw = _text(env, name)
    if raw is None:
        return default
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", raw)
    if match is None:
        raise SettingError(name, f"must be a month and day as MM-DD, like 08-01, got {raw!r}.")
    month, day = int(match.group(1)), int(match.group(2))
    try:
        date(2001, month, day)  # a year without 29 February: the start must exist every year
    except ValueError:
        raise SettingError(name, f"{raw!r} is not a day of the year (and 02-29 is not allowed).") from None
    return month, day


def _token(env: Mapping[str, str], name: str, prefix: str, where: str) -> str | None:
    value = _text(env, name)
    if value is not None and not value.startswith(prefix):
        # Never echo the value: it may be a real secret pasted into the wrong variable.
        raise SettingError(name, f"must start with '{prefix}'. Copy it from {where}.")
    return value


def _guid(env: Mapping[str, str], name: str, what: str) -> str | None:
    value = _text(env, name)
    if value is not None and not _GUID.match(value):
        raise SettingError(name, f"must be {what}, a GUID like 00000000-0000-0000-0000-000000000000, "
                           f"got {value[:60]!r}.")
    return value.lower() if value is not None else None


def _teams_secret(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name)
    if value is not None and _GUID.match(value):
        # Never echo the value. Entra shows a secret's "Secret ID" (a GUID) beside its Value.
        raise SettingError(name, "looks like the secret's ID (a GUID); copy the secret's Value instead "
                           "(Entra app registration > Certificates & secrets).")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None, *, https_only: bool = False) -> str | None:
    """An http(s) URL with a host and no user, query or fragment; plain http only for a loopback
    host (a test stand-in), unless `https_only`. Returned without a trailing slash."""
    raw = _text(env, name)
    if raw is None:
        return default
    example = "https://plcbot.example.org" if https_only else default or "https://example.org"
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise SettingError(name, f"a URL has no spaces, got {raw[:80]!r}.")
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - ValueError for a port that is not a number in range
    except ValueError:
        raise SettingError(name, f"the port in {raw[:80]!r} is not a number from 1 to 65535.") from None
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"} or not host or host.startswith((".", "-")) or ".." in host:
        raise SettingError(name, f"must be an https:// URL with a host, like {example}, got {raw[:80]!r}.")
    if parts.scheme == "http" and (https_only or host not in _LOOPBACK):
        raise SettingError(name, f"must start with https:// (plain http only for 127.0.0.1 or localhost), "
                           f"got {raw[:80]!r}.")
    if "@" in parts.netloc:
        raise SettingError(name, "give the URL without a user name or password.")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise SettingError(name, f"give the URL without ?… or #…, got {raw[:80]!r}.")
    return raw.rstrip("/")


def check_timezone(name: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            name, f"{value!r} is not a known time zone; use an IANA name such as America/Chicago."
        ) from None
    return value


_EMAIL = re.compile(r"^[^@\s,]{1,64}@[^@\s,]+\.[^@\s,]{2,}$")


def admin_entries(raw: str) -> frozenset[str]:
    """PLCBOT_ADMINS: who is a plcbot admin, comma separated, in whichever form the district has at hand:
    a Slack user id (U012ABCDEF), or for Microsoft Teams the person's Entra object id (the GUID on the
    user's page in the Entra admin center) or their e-mail address (sign-in name). GUIDs and e-mail
    addresses are kept in lower case; `storage.people.load_actor` matches them against the person's
    Teams identities and e-mail."""
    admins: set[str] = set()
    for entry in (a.strip() for a in raw.split(",")):
        if not entry:
            continue
        if _USER_ID.match(entry):
            admins.add(entry)
        elif _GUID.match(entry) or _EMAIL.match(entry):
            admins.add(entry.lower())
        else:
            raise SettingError(
                "PLCBOT_ADMINS",
                "must be Slack user ids (like U012ABCDEF), Teams users' Entra object ids (like "
                f"3f2504e0-4f89-11d3-9a0c-0305e82c3301) or e-mail addresses, separated by commas, not {entry[:80]!r}.",
            )
    return frozenset(admins)


def from_env(env: Mapping[str, str]) -> Settings:
    """Build settings from a mapping of environment variables (pure; used by tests)."""
    from scheduling.hours import parse_school_hours  # local: keeps settings import-light

    api_url = _text(env, "SLACK_API_URL") or SLACK_API_URL
    if not re.match(r"^https?://[^\s/]+", api_url):
        raise SettingError("SLACK_API_URL", f"must be an http(s) URL, got {api_url!r}.")
    if not api_url.endswith("/"):
        api_url += "/"

    database_url = _text(env, "DATABASE_URL") or "sqlite:///plcbot.db"
    if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", database_url):
        raise SettingError(
            "DATABASE_URL",
            "must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
        )
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    admins = admin_entries(_text(env, "PLCBOT_ADMINS") or "")

    log_level = (_text(env, "LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingError("LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR.")

    school_hours = _text(env, "PLCBOT_SCHOOL_HOURS") or DEFAULT_SCHOOL_HOURS
    try:
        parse_school_hours(school_hours)
    except ValueError as exc:
        raise SettingError("PLCBOT_SCHOOL_HOURS", str(exc)) from None

    secret_key = _text(env, "PLCBOT_SECRET_KEY")
    if secret_key is not None and len(secret_key) < 16:
        raise SettingError("PLCBOT_SECRET_KEY", "must be at least 16 characters long.")

    min_group = _int(env, "PLCBOT_MIN_GROUP_SIZE", 3, low=3, high=100)
    year_start = _month_day(env, "PLCBOT_SCHOOL_YEAR_START", (8, 1))

    teams_public_url = _url(env, "TEAMS_PUBLIC_URL", None, https_only=True)
    if teams_public_url is not None and teams_public_url.endswith("/api/messages"):
        raise SettingError("TEAMS_PUBLIC_URL", "give the bot's address without /api/messages "
                           "(the messaging endpoint is this address followed by /api/messages).")

    return Settings(
        bot_token=_token(env, "SLACK_BOT_TOKEN", "xoxb-", "your Slack app's OAuth & Permissions page"),
        app_token=_token(env, "SLACK_APP_TOKEN", "xapp-", "Basic Information > App-Level Tokens"),
        signing_secret=_text(env, "SLACK_SIGNING_SECRET"),
        slack_api_url=api_url,
        database_url=database_url,
        timezone=check_timezone("PLCBOT_TIMEZONE", _text(env, "PLCBOT_TIMEZONE") or "America/New_York"),
        admins=admins,
        host=_text(env, "HOST") or "0.0.0.0",  # noqa: S104
        port=_int(env, "PORT", 3000, low=1, high=65535),
        health_port=_int(env, "PLCBOT_HEALTH_PORT", 3001, low=0, high=65535),
        log_level=log_level,
        listener_threads=_int(env, "PLCBOT_LISTENER_THREADS", 32, low=1, high=512),
        http_threads=_int(env, "PLCBOT_HTTP_THREADS", 16, low=1, high=512),
        web_workers=_int(env, "PLCBOT_WEB_WORKERS", 2, low=1, high=64),
        scheduler_interval=_float(env, "PLCBOT_SCHEDULER_INTERVAL", 20.0, low=0.05, high=600),
        school_hours=school_hours,
        min_group_size=min_group,
        secret_key=secret_key,
        retention_years=_int(env, "PLCBOT_RETENTION_YEARS", 3, low=1, high=50),
        forget_deactivated_days=_int(env, "PLCBOT_FORGET_DEACTIVATED_DAYS", 365, low=0, high=36500),
        school_year_start=year_start,
        teams_client_id=_guid(env, "TEAMS_CLIENT_ID",
                              "the Application (client) ID of the bot's Entra app registration"),
        teams_client_secret=_teams_secret(env, "TEAMS_CLIENT_SECRET"),
        teams_tenant_id=_guid(env, "TEAMS_TENANT_ID", "the Directory (tenant) ID of your Microsoft 365 "
                              "organization (the bot is single-tenant: not 'common' or 'organizations')"),
        teams_port=_int(env, "TEAMS_PORT", TEAMS_PORT, low=1, high=65535),
        teams_app_rate=_int(env, "TEAMS_APP_RATE", TEAMS_APP_RATE, low=1, high=TEAMS_APP_RATE),
        teams_openid_metadata_url=_url(env, "TEAMS_OPENID_METADATA_URL", TEAMS_OPENID_METADATA_URL)
        or TEAMS_OPENID_METADATA_URL,
        teams_login_url=_url(env, "TEAMS_LOGIN_URL", TEAMS_LOGIN_URL) or TEAMS_LOGIN_URL,
        teams_public_url=teams_public_url,
        teams_privacy_url=_url(env, "TEAMS_PRIVACY_URL", None, https_only=True),
        teams_terms_url=_url(env, "TEAMS_TERMS_URL", None, https_only=True),
        extra={k: v for k, v in env.items() if k.startswith("PLCBOT_")},
    )


def load(env_file: str | Path | None = ".env") -> Settings:
    """Read `.env` (if present) under the real environment, which wins, and validate.

    Read this before anything imports `microsoft_teams.apps`: that import calls
    `load_dotenv(find_dotenv(usecwd=True))`, copying the working folder's `.env` into `os.environ`
    as a side effect, even when `--env-file` named another file or /dev/null. Read afterwards,
    those copied values would outrank the chosen file here. The SDK also falls back on variables
    of its own (CLIENT_ID, CLIENT_SECRET, TENANT_ID, CLOUD, PORT, SERVICE_URL): the Teams front is
    built from this object's `teams_*` fields, passed to the SDK explicitly, never from those.
    """
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return from_env(merged)
