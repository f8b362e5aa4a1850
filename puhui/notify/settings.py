"""The notification settings, parsed from the environment (a mapping) and validated before
anything is sent: every error names the variable and says what it takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Mapping
from zoneinfo import ZoneInfo

from puhui.notify.channels import ChannelName, NotificationSettingsError, check_email
from puhui.notify.rules import ContactCap, QuietHours

CHANNELS_ENV = "PUHUI_NOTIFY_CHANNELS"
QUIET_ENV = "PUHUI_NOTIFY_QUIET_HOURS"
CAP_DAY_ENV = "PUHUI_NOTIFY_CAP_PER_DAY"
CAP_WEEK_ENV = "PUHUI_NOTIFY_CAP_PER_WEEK"
CAPPED_ENV = "PUHUI_NOTIFY_CAPPED_KINDS"
MAX_ATTEMPTS_ENV = "PUHUI_NOTIFY_MAX_ATTEMPTS"
SMTP_HOST_ENV = "PUHUI_SMTP_HOST"
SMTP_PORT_ENV = "PUHUI_SMTP_PORT"
SMTP_USER_ENV = "PUHUI_SMTP_USER"
SMTP_PASSWORD_ENV = "PUHUI_SMTP_PASSWORD"
SMTP_FROM_ENV = "PUHUI_SMTP_FROM"
SMTP_STARTTLS_ENV = "PUHUI_SMTP_STARTTLS"
SMTP_TIMEOUT_ENV = "PUHUI_SMTP_TIMEOUT_SECONDS"
WEBHOOK_URL_ENV = "PUHUI_WEBHOOK_URL"
WEBHOOK_SECRET_ENV = "PUHUI_WEBHOOK_SECRET"
WEBHOOK_TIMEOUT_ENV = "PUHUI_WEBHOOK_TIMEOUT_MS"

DEFAULT_CHANNELS = ("log", "email", "sms", "push", "webhook")
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return (env.get(name) or "").strip() or default


def whole_setting(env: Mapping[str, str], name: str, default: str, low: int, high: int,
           unit: str) -> int:
    text = _get(env, name, default)
    if not text.isdigit() or not low <= int(text) <= high:
        raise NotificationSettingsError(f"{name} must be a whole number of {unit} from {low} to "
                                        f"{high}, not {text!r}")
    return int(text)


def _switch(env: Mapping[str, str], name: str, default: str) -> bool:
    text = _get(env, name, default).lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise NotificationSettingsError(f"{name} must be 'on' or 'off', not {text!r}")


def _clock(name: str, text: str) -> time:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and 1 <= len(hours) <= 2 and int(hours) < 24 and int(minutes) < 60):
        raise NotificationSettingsError(
            f"{name} must be HH:MM-HH:MM in the business time zone (e.g. 21:00-08:00) or 'off', "
            f"not {text!r}")
    return time(int(hours), int(minutes))


def quiet_hours(env: Mapping[str, str], zone: ZoneInfo) -> QuietHours:
    text = _get(env, QUIET_ENV, "21:00-08:00").lower()
    if text in _OFF:
        return QuietHours(time(0), time(0), zone)
    start, sep, end = text.partition("-")
    if not sep:
        _clock(QUIET_ENV, text)  # raises naming the setting
    return QuietHours(_clock(QUIET_ENV, start.strip()), _clock(QUIET_ENV, end.strip()), zone)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    user: str | None
    password: str | None
    starttls: bool
    timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SmtpSettings | None":
        """The SMTP relay configured, or None when `PUHUI_SMTP_HOST` is not set (the e-mail
        channel then reports `not_configured`)."""
        host = _get(env, SMTP_HOST_ENV)
        if not host:
            return None
        if any(c.isspace() for c in host) or len(host) > 253:
            raise NotificationSettingsError(f"{SMTP_HOST_ENV} must be a host name or address, "
                                            f"not {host!r}")
        starttls = _switch(env, SMTP_STARTTLS_ENV, "on")
        port = whole_setting(env, SMTP_PORT_ENV, "587" if starttls else "25", 1, 65535, "port")
        sender = _get(env, SMTP_FROM_ENV)
        if not sender:
            raise NotificationSettingsError(f"{SMTP_FROM_ENV} must name the sender's address "
                                            f"(e.g. reminders@lender.example) when "
                                            f"{SMTP_HOST_ENV} is set")
        try:
            check_email(sender)
        except ValueError:
            raise NotificationSettingsError(f"{SMTP_FROM_ENV} must be an e-mail address like "
                                            f"reminders@lender.example, not {sender!r}") from None
        user = _get(env, SMTP_USER_ENV) or None
        password = env.get(SMTP_PASSWORD_ENV) or None
        if (user is None) != (password is None):
            raise NotificationSettingsError(f"{SMTP_USER_ENV} and {SMTP_PASSWORD_ENV} go "
                                            f"together: set both or neither")
        timeout = whole_setting(env, SMTP_TIMEOUT_ENV, "10", 1, 300, "seconds")
        return cls(host, port, sender, user, password, starttls, float(timeout))


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: str
    timeout: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WebhookSettings | None":
        """The partners' webhook endpoint and signing secret (Standard Webhooks, `whsec_` +
        base64), or None when `PUHUI_WEBHOOK_URL` is not set."""
        url = _get(env, WEBHOOK_URL_ENV)
        if not url:
            return None
        if not (url.startswith("https://") or url.startswith("http://")) or \
                any(c.isspace() for c in url):
            raise NotificationSettingsError(f"{WEBHOOK_URL_ENV} must be an http(s) URL, "
                                            f"not {url!r}")
        secret = _get(env, WEBHOOK_SECRET_ENV)
        if not secret.startswith("whsec_") or len(secret) < 6 + 24:
            raise NotificationSettingsError(
                f"{WEBHOOK_SECRET_ENV} must be a Standard Webhooks secret: 'whsec_' and the "
                f"base64 of at least 18 random bytes")
        import base64
        import binascii
        try:
            raw = base64.b64decode(secret[6:], validate=True)
        except (binascii.Error, ValueError):
            raise NotificationSettingsError(f"{WEBHOOK_SECRET_ENV}: the part after 'whsec_' "
                                            f"must be base64") from None
        if len(raw) < 18:
            raise NotificationSettingsError(f"{WEBHOOK_SECRET_ENV} must hold at least 18 bytes")
        timeout = whole_setting(env, WEBHOOK_TIMEOUT_ENV, "5000", 1, 60000, "ms")
        return cls(url, secret, timeout / 1000)


@dataclass(frozen=True)
class NotifySettings:
    """Which channels a notification goes to (in order), quiet hours, the cap, which kinds it
    applies to, and after how many failed attempts a delivery is given up."""

    channels: tuple[str, ...]
    quiet: QuietHours
    cap: ContactCap
    capped_kinds: tuple[str, ...]
    max_attempts: int

    def is_capped(self, kind: str) -> bool:
        return any(kind == k or kind.startswith(k + ".") for k in self.capped_kinds)

    @classmethod
    def from_env(cls, env: Mapping[str, str], zone: ZoneInfo) -> "NotifySettings":
        names = [c.strip().lower() for c in _get(env, CHANNELS_ENV, ",".join(DEFAULT_CHANNELS))
                 .split(",") if c.strip()]
        known = [c.value for c in ChannelName]
        unknown = [n for n in names if n not in known]
        if unknown or not names or len(set(names)) != len(names):
            raise NotificationSettingsError(
                f"{CHANNELS_ENV} must list channels from {known}, comma-separated, each once; "
                f"got {_get(env, CHANNELS_ENV)!r}")
        cap = ContactCap(whole_setting(env, CAP_DAY_ENV, "2", 0, 100, "notifications"),
                         whole_setting(env, CAP_WEEK_ENV, "6", 0, 700, "notifications"))
        if cap.per_day and cap.per_week and cap.per_week < cap.per_day:
            raise NotificationSettingsError(f"{CAP_WEEK_ENV} ({cap.per_week}) cannot be below "
                                            f"{CAP_DAY_ENV} ({cap.per_day})")
        kinds = tuple(k.strip() for k in _get(env, CAPPED_ENV, "reminder,collection").split(",")
                      if k.strip())
        return cls(tuple(names), quiet_hours(env, zone), cap, kinds,
                   whole_setting(env, MAX_ATTEMPTS_ENV, "8", 1, 50, "attempts"))
