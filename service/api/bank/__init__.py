"""The custody bank's signed integration API."""
