"""The buffer-object model: a reference interpreter and a vectorised engine of the same semantics."""
