"""Article intake shared by the ingester and `newsmon extract`: formats, identity, validation."""
