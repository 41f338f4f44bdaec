"""HTTP plumbing shared by every router: problems, middleware, sessions, pagination."""
