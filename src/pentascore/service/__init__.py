"""The service stage: the operational database, authorizations, audited reads, the HTTP API."""
