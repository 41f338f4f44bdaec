"""The parent's API: one enrollment, its lessons, refunds and complaints."""
