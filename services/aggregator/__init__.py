"""The aggregator: one ScrubResult per claim from the checks' verdicts."""
