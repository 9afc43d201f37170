"""Alerts: the rules that decide what is worth telling someone (rules), an outbox that makes
delivery exactly-once in practice (outbox), Block Kit messages a person can act on (messages), and
the Slack sender (slack) that never raises for Slack or network trouble."""
