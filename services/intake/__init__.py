"""The X12 intake service (``claimscrub-intake``): claims.x12 to claims.submitted
and claims.x12.acks."""
