"""`make bench`: spawn latency against the physical floor and a stock hub; see bench/run.py."""
