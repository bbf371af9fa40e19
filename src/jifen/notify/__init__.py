"""Telling households what moved (issue 16): the outbox's delivery worker, webhooks and SMS, dead letters,
reminders (a pickup code or points about to lapse), and the printable 本周积分变动 notice per grid."""
