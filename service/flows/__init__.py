"""Money flows: enrollments, deposits, consumptions, refunds, releases, instructions, statements."""
