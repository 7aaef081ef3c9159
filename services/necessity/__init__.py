"""The NECESSITY check: medical necessity and coding policy for therapy lines.

Therapy and assistant modifiers, KX and targeted-review thresholds, NCCI
procedure-to-procedure pairs, diagnoses and coverage, plan of care, progress
reports, and 97530 documentation. Pure rules in :mod:`claimscrub.necessity.rules`;
reference data in :mod:`claimscrub.necessity.reference` (bundled under ``data/``);
the per-beneficiary state in :mod:`claimscrub.necessity.history`.
"""
