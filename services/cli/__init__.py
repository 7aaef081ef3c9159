"""The ``claimscrub`` command line."""
