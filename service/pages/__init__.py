"""The regulator's and the parent's pages."""
