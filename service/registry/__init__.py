"""Institutions, banks, regulators, credentials and regions."""
