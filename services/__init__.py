"""claimscrub: claim scrubbing for outpatient therapy billing.

The package is laid out a folder per service (``units``, ``aggregator``, ...),
with ``core`` holding the contract's data model and ``runtime`` the transport
shared by every service.
"""

__version__ = "0.1.0"
