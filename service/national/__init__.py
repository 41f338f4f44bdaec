"""The national view (issue 37): each province's rollups, kept current on its own primary by
the `national_rollups` job and published by logical replication; the national database
subscribes to every province and the national regulator (region `100000`) reads them."""
