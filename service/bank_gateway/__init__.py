"""Talking to custody banks: request signing, the httpx client, and delivery of the instruction
outbox."""
