"""Guidance prices, course filings, the rule engine and the holiday calendar."""
