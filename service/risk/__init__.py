"""Risk indicators, scores, alerts and freezes."""
