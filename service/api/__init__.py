"""The HTTP edge: authentication, problems, middleware, idempotency, and one package per caller
(bank, regulator, institution, parent, public), each holding only HTTP: schemas and one
use-case call per endpoint."""
