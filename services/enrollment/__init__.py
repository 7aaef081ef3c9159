"""The ENROLLMENT check: NPIs, enrollment on the date of service, licence,
exclusion and taxonomy, plus the provider lookup other services call.

Pure rule code in :mod:`claimscrub.enrollment.rules`; the records and their
bytes in :mod:`~claimscrub.enrollment.records`; the materialised table in
:mod:`~claimscrub.enrollment.table` (followed from Kafka by
:mod:`~claimscrub.enrollment.follower`); taxonomy and date policy data in
:mod:`~claimscrub.enrollment.reference` (bundled files under ``data/``);
callers' channels in :mod:`~claimscrub.enrollment.client`.
"""

from claimscrub.enrollment.npi import is_valid_npi, npi_problem
from claimscrub.enrollment.records import EnrollmentRecord, EnrollmentStatus, parse_record
from claimscrub.enrollment.reference import EnrollmentReference
from claimscrub.enrollment.rules import check_enrollment, provider_standing
from claimscrub.enrollment.table import EnrollmentTable

__all__ = [
    "EnrollmentRecord",
    "EnrollmentReference",
    "EnrollmentStatus",
    "EnrollmentTable",
    "check_enrollment",
    "is_valid_npi",
    "npi_problem",
    "parse_record",
    "provider_standing",
]
