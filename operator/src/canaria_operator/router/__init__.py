"""`canaria route`: the built-in traffic-splitting reverse proxy (stable/canary, sticky, shadow)."""
