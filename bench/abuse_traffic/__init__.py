"""The traffic of bench/abuse.py, each client from a loopback source address of its own:
requests counted by outcome (`counted`), the honest customers (`honest`), the attackers
(`attackers`) and the JWKS host that answers a byte at a time (`jwks_host`)."""
