"""The channels without a network: what an unconfigured channel says, the SMS and push adapters
with a provider plugged in, webhook failures, the log channel's masking."""

from __future__ import annotations

import logging

import httpx

from puhui.notify.channels import Envelope, Outcome
from puhui.notify.settings import WebhookSettings
from puhui.services.channels import (LogChannel, PushAdapter, SmsAdapter, SmtpChannel,
                                     WebhookChannel, channels_from_env)

ENVELOPE = Envelope("NT0001", "sms", "13812345678", "还款提醒", "body", "reminder.before_due",
                    "AP1", {"loan_id": "LN1"})
HOOK = WebhookSettings.from_env({"PUHUI_WEBHOOK_URL": "https://hooks.example/x",
                                 "PUHUI_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})


def test_unconfigured_channels_say_so_and_name_what_to_set() -> None:
    channels = channels_from_env({})
    outcomes = {name: channel.send(ENVELOPE) for name, channel in channels.items()}
    assert outcomes["log"].outcome is Outcome.SENT
    for name in ("email", "sms", "push", "webhook"):
        assert outcomes[name].outcome is Outcome.NOT_CONFIGURED, name
    assert "PUHUI_SMTP_HOST" in outcomes["email"].error
    assert "PUHUI_WEBHOOK_URL" in outcomes["webhook"].error
    assert "adapter to fill in" in outcomes["sms"].error


def test_adapters_with_a_provider_plugged_in() -> None:
    sent = []
    sms = SmsAdapter(lambda mobile, text: sent.append((mobile, text)) or "SMS-42")
    assert sms.send(ENVELOPE).channel_message_id == "SMS-42" and sent == [("13812345678", "body")]

    def down(*_args: str) -> str:
        raise ConnectionError("gateway down")
    failed = PushAdapter(down).send(ENVELOPE)
    assert failed.outcome is Outcome.FAILED and "gateway down" in failed.error
    assert PushAdapter(lambda t, s, b: "P-1").send(ENVELOPE).outcome is Outcome.SENT


def test_a_webhook_that_cannot_be_reached_or_refuses_is_failed() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    delivery = WebhookChannel(HOOK, httpx.MockTransport(unreachable)).send(ENVELOPE)
    assert delivery.outcome is Outcome.FAILED and "ConnectError" in delivery.error
    refusing = WebhookChannel(HOOK, httpx.MockTransport(lambda r: httpx.Response(401)))
    assert refusing.send(ENVELOPE).error == "the endpoint answered HTTP 401"


def test_the_log_channel_masks_the_mobile(caplog) -> None:
    caplog.set_level(logging.INFO, logger="puhui.notifications")
    assert LogChannel().send(ENVELOPE).outcome is Outcome.SENT
    assert "138****5678" in caplog.text and "13812345678" not in caplog.text


def test_the_mail_built_carries_a_stable_message_id() -> None:
    from puhui.notify.settings import SmtpSettings

    smtp = SmtpChannel(SmtpSettings.from_env({"PUHUI_SMTP_HOST": "mail.example",
                                              "PUHUI_SMTP_FROM": "r@lender.example"}))
    email = Envelope("NT0002", "email", "a@b.example", "s", "b", "k", "AP1")
    first, second = smtp.build(email), smtp.build(email)
    assert first["Message-ID"] == second["Message-ID"] == "<NT0002@lender.example>"


def test_bad_notification_settings_are_a_503_through_the_api_not_a_500() -> None:
    from puhui.api.problems import problem_for
    from puhui.notify.channels import NotificationSettingsError

    answer = problem_for(NotificationSettingsError("PUHUI_SMTP_FROM must name the sender"))
    assert answer.status_code == 503
    assert b"notifications-misconfigured" in answer.body
