"""Reminders and notifications, the pure part: the channel interface, how a recipient is masked,
the channels' settings, quiet hours, the per-borrower cap and the reminder schedules.

Sending (SMTP, HTTP) lives in `puhui.services.channels`; the outbox and the delivery log in
`puhui.store.notification_repo`; orchestration in `puhui.services.notifications` and
`puhui.services.reminders` (docs/notifications.md).
"""
