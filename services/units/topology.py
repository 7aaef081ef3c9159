"""The units service's stream: claims.submitted -> CheckResult(UNITS) on claims.checks."""

from __future__ import annotations

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame

from claimscrub.core.checks import Check
from claimscrub.runtime.check_topology import check_topology
from claimscrub.runtime.settings import Settings


def topology(app: Application, settings: Settings, check: Check) -> StreamingDataFrame:
    return check_topology(app, settings, check)
