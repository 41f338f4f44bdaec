"""The regulator's API: registry, prices, risk, decisions."""
