"""The one interface every channel (log, e-mail, SMS, app push, partner webhook) implements, what
a send returns, and how a recipient's address is masked wherever it is shown or logged.

Why an interface of one method: the outbox (`puhui.services.notifications`) decides what is
sent when and records every attempt; a channel only delivers one message and says how it went,
so a lender plugs in its SMS gateway or push provider without touching the rules.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from puhui.errors import PuhuiError
from puhui.parties.identity import mask


class ChannelName(str, enum.Enum):
    LOG = "log"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"


class Outcome(str, enum.Enum):
    """How one delivery attempt ended."""

    SENT = "sent"                      # the channel accepted the message
    FAILED = "failed"                  # refused or unreachable: retried later
    NOT_CONFIGURED = "not_configured"  # the channel has no provider set up: never retried


class NotificationSettingsError(PuhuiError, ValueError):
    """A notification setting that cannot be used; the message names it and says what it takes."""


class InvalidContact(PuhuiError, ValueError):
    """An address a channel cannot deliver to (a malformed e-mail, an empty push token)."""


@dataclass(frozen=True)
class Envelope:
    """One message for one channel and recipient, as the outbox hands it to the channel.

    `message_id` is the notification's own id: the same on every retry, so a receiver that
    dedupes on it (e-mail Message-ID, the webhook-id header) drops a repeat."""

    message_id: str
    channel: str
    recipient: str
    subject: str
    body: str
    kind: str
    applicant_id: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What a channel says about one attempt: the outcome, its own id for the message (SMTP
    queue id or Message-ID, the webhook-id), and the error when it failed."""

    outcome: Outcome
    channel_message_id: str | None = None
    error: str | None = None

    @classmethod
    def sent(cls, channel_message_id: str | None = None) -> "Delivery":
        return cls(Outcome.SENT, channel_message_id)

    @classmethod
    def failed(cls, error: str) -> "Delivery":
        return cls(Outcome.FAILED, None, error[:2000])

    @classmethod
    def not_configured(cls, why: str) -> "Delivery":
        return cls(Outcome.NOT_CONFIGURED, None, why)


class Channel(Protocol):
    """Delivers one envelope; never raises for a delivery problem (it returns `failed`)."""

    name: str

    def send(self, envelope: Envelope) -> Delivery: ...


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def check_email(address: str) -> str:
    """A plain addr-spec (no display name, no spaces), at most 254 characters; `InvalidContact`
    otherwise.  Why so strict: the address goes into an SMTP envelope as it is."""
    if not isinstance(address, str) or len(address) > 254 or not _EMAIL.fullmatch(address):
        raise InvalidContact("an e-mail address must look like name@example.com "
                             "(no display name, at most 254 characters)")
    return address


def check_push_token(token: str) -> str:
    if not isinstance(token, str) or not 8 <= len(token) <= 512 or not token.isprintable() \
            or any(c.isspace() for c in token):
        raise InvalidContact("a push token is 8-512 printable characters without spaces")
    return token


def mask_email(address: str) -> str:
    """`zhang.wei@example.com` -> `z********@example.com`: the domain stays (it says which
    provider refused), the mailbox is starred but for its first character."""
    local, at, domain = address.rpartition("@")
    if not at:
        return mask(address, 1, 0)
    return (local[:1] + "*" * max(len(local) - 1, 1)) + "@" + domain


def mask_url(url: str) -> str:
    """A webhook endpoint as its scheme and host only: the path may carry a partner's token."""
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…" if sep else mask(url, 4, 0)


def mask_recipient(channel: str, address: str) -> str:
    """The form a recipient is shown in every view and log line (PIPL data minimisation)."""
    if channel == ChannelName.EMAIL.value:
        return mask_email(address)
    if channel == ChannelName.WEBHOOK.value:
        return mask_url(address)
    if channel == ChannelName.PUSH.value:
        return mask(address, 4, 4)
    return mask(address, 3, 4)  # a mobile number: 138****5678
