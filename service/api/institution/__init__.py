"""The institution's API: courses, enrollments, lessons, refunds, balances."""
