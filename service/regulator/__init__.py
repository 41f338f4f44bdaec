"""The regulator\x27s API: registry, prices, risk, decisions."""
