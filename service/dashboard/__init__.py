"""The regulator's and the parent's pages: static HTML and JavaScript over the same API."""
