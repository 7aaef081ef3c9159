"""The public contract as Python: claims, edits, results and claim-level checks."""
