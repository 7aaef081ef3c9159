"""`make bench`: throughput and latency, always beside a baseline from the same run.

This machine is noisy, so single timings mean little; the ratios printed here
(rules vs decode-only, pipeline vs passthrough) are the figures to compare.
"""
