"""Registers the domain's scheduled jobs (refund escalation, release batch, risk sweep…)."""
