"""The enrollment service's stream: claims.submitted -> CheckResult(ENROLLMENT).

The check reads the enrollment table, which follows providers.enrollment on
its own thread (enrollment.follower) and has caught up before this stream is
built (enrollment.main).
"""

from __future__ import annotations

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.checks import Check
from claimscrub.runtime.check_topology import check_topology
from claimscrub.runtime.settings import Settings


def topology(app: Application, settings: Settings, check: Check) -> StreamingDataFrame:
    return check_topology(app, settings, check)
