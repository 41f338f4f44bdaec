"""Policies that localities set for themselves, per region (the most specific region code
wins): the release window, the refund answer window, auto-freeze, and every risk indicator's
knobs (typed, one model per indicator). Below the domains that read them."""
