"""claimscrub: claim scrubbing for outpatient therapy billing.

The package is laid out a folder per service (``units``, ``aggregator``, ...),
with ``core`` holding the contract's data model and ``runtime`` the transport
shared by every service.
"""

import warnings

# confluent-kafka's schema-registry client (imported by Quix Streams, unused
# here) imports authlib's deprecated httpx integration; the warning would be
# the first line on stderr of every service and command. It goes here, in the
# package every entry point imports first, since some import Quix Streams
# before anything else of ours. authlib turns its warnings on when imported,
# so the filter goes in after it.
import authlib.deprecate  # noqa: F401

warnings.filterwarnings("ignore", message="The httpx module is deprecated")

__version__ = "0.1.0"
