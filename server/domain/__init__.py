"""The rules of each synced entity, once: who may create or change what, the validation
beyond field types, the fields the server derives, and what follows a write.

Both write paths call these policies: the sync registry (server/sync_registry.py) makes
them the `authorize`, `screen`, `prepare` and `after_write` hooks of each entity, and the
API books its writes as mutations of the server's node through that same registry. A
refusal is a `server.errors.Refused` with a code of `server.errors.CODES`.

This package imports models, scopes and `sync/`, never the API or the schemas.
"""
