"""The channels that deliver notifications: log, e-mail (SMTP), partner webhook (Standard
Webhooks), and the SMS and app-push adapters a lender fills in with its provider.

Every channel implements `puhui.notify.channels.Channel`: `send(envelope) -> Delivery`, and
never raises for a delivery problem (a refused or unreachable server is `failed`, retried by
the outbox).  The network lives here, with the other gateways (`services/gateway.py`).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Callable, Mapping

import httpx

from puhui.notify.channels import Channel, ChannelName, Delivery, Envelope, mask_recipient
from puhui.notify.settings import SmtpSettings, WebhookSettings

log = logging.getLogger("puhui.notifications")


class LogChannel:
    """Writes the notification to the `puhui.notifications` log, recipient masked: a
    development box sees what would go out, and nothing personal lands in the log."""

    name = ChannelName.LOG.value

    def send(self, envelope: Envelope) -> Delivery:
        log.info("notification %s (%s) to %s: %s", envelope.message_id, envelope.kind,
                 mask_recipient(ChannelName.SMS.value, envelope.recipient), envelope.subject)
        return Delivery.sent(f"log:{envelope.message_id}")


def message_id_header(envelope: Envelope, sender: str) -> str:
    """The same Message-ID on every retry of one notification, so a mailbox that received the
    first (its acknowledgement lost) can drop the repeat."""
    domain = sender.rpartition("@")[2] or "puhui.invalid"
    return f"<{envelope.message_id}@{domain}>"


class SmtpChannel:
    """E-mail through an SMTP relay (smtplib), STARTTLS and login when configured."""

    name = ChannelName.EMAIL.value

    def __init__(self, settings: SmtpSettings | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.clock = clock

    def build(self, envelope: Envelope) -> EmailMessage:
        assert self.settings is not None
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = envelope.recipient
        msg["Subject"] = envelope.subject
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = message_id_header(envelope, self.settings.sender)
        msg["X-Puhui-Kind"] = envelope.kind
        msg.set_content(envelope.body)
        return msg

    def send(self, envelope: Envelope) -> Delivery:
        s = self.settings
        if s is None:
            return Delivery.not_configured("e-mail is not configured (set PUHUI_SMTP_HOST and "
                                           "PUHUI_SMTP_FROM)")
        msg = self.build(envelope)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.user is not None and s.password is not None:
                    smtp.login(s.user, s.password)
                refused = smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            # the error text may quote the address: mask it before it reaches the log
            text = f"{type(exc).__name__}: {exc}".replace(
                envelope.recipient, mask_recipient(self.name, envelope.recipient))
            return Delivery.failed(text)
        if refused:
            return Delivery.failed("recipient refused by the SMTP server")
        return Delivery.sent(msg["Message-ID"])


class WebhookChannel:
    """POSTs the notification as JSON to the partner's endpoint, signed as the Standard
    Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature`),
    so the partner verifies it with any Standard Webhooks library and dedupes on the id."""

    name = ChannelName.WEBHOOK.value

    def __init__(self, settings: WebhookSettings | None,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock

    def payload(self, envelope: Envelope) -> bytes:
        return json.dumps({"type": envelope.kind, "id": envelope.message_id,
                           "data": {"applicant_id": envelope.applicant_id,
                                    "partner_id": envelope.recipient,
                                    "subject": envelope.subject, "body": envelope.body,
                                    "context": dict(envelope.context)}},
                          ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")

    def headers(self, envelope: Envelope, body: bytes) -> dict[str, str]:
        from standardwebhooks.webhooks import Webhook

        assert self.settings is not None
        now = self.clock()
        signature = Webhook(self.settings.secret).sign(envelope.message_id, now, body)
        return {"webhook-id": envelope.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature, "content-type": "application/json"}

    def send(self, envelope: Envelope) -> Delivery:
        s = self.settings
        if s is None:
            return Delivery.not_configured("the partner webhook is not configured (set "
                                           "PUHUI_WEBHOOK_URL and PUHUI_WEBHOOK_SECRET)")
        body = self.payload(envelope)
        try:
            with httpx.Client(transport=self.transport, timeout=s.timeout) as client:
                response = client.post(s.url, content=body, headers=self.headers(envelope, body))
        except httpx.HTTPError as exc:
            return Delivery.failed(f"{type(exc).__name__}: {exc}")
        if not 200 <= response.status_code < 300:
            return Delivery.failed(f"the endpoint answered HTTP {response.status_code}")
        return Delivery.sent(envelope.message_id)


class SmsAdapter:
    """SMS: an adapter to fill in with the lender's SMS gateway (a provider's HTTP API,
    with the signature and template the MIIT rules require).  Until `sender` is given, every
    send is recorded `not_configured` and never retried."""

    name = ChannelName.SMS.value

    def __init__(self, sender: Callable[[str, str], str] | None = None) -> None:
        self.sender = sender  # (mobile, text) -> the provider's message id; raises on failure

    def send(self, envelope: Envelope) -> Delivery:
        if self.sender is None:
            return Delivery.not_configured("SMS is an adapter to fill in: no SMS gateway is "
                                           "configured (puhui.services.channels.SmsAdapter)")
        try:
            return Delivery.sent(self.sender(envelope.recipient, envelope.body))
        except Exception as exc:  # noqa: BLE001 - a provider's failure is a failed delivery
            return Delivery.failed(f"{type(exc).__name__}: {exc}")


class PushAdapter:
    """App push: an adapter to fill in with the lender's push provider (the app's device
    token is the recipient).  Until `sender` is given, sends are recorded `not_configured`."""

    name = ChannelName.PUSH.value

    def __init__(self, sender: Callable[[str, str, str], str] | None = None) -> None:
        self.sender = sender  # (token, title, text) -> the provider's message id

    def send(self, envelope: Envelope) -> Delivery:
        if self.sender is None:
            return Delivery.not_configured("app push is an adapter to fill in: no push "
                                           "provider is configured "
                                           "(puhui.services.channels.PushAdapter)")
        try:
            return Delivery.sent(self.sender(envelope.recipient, envelope.subject, envelope.body))
        except Exception as exc:  # noqa: BLE001
            return Delivery.failed(f"{type(exc).__name__}: {exc}")


def channels_from_env(env: Mapping[str, str]) -> dict[str, Channel]:
    """Every channel, configured from the environment (`NotificationSettingsError` naming a bad
    setting)."""
    return {ChannelName.LOG.value: LogChannel(),
            ChannelName.EMAIL.value: SmtpChannel(SmtpSettings.from_env(env)),
            ChannelName.SMS.value: SmsAdapter(),
            ChannelName.PUSH.value: PushAdapter(),
            ChannelName.WEBHOOK.value: WebhookChannel(WebhookSettings.from_env(env))}


