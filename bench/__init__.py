"""`make bench`: haoping's performance and cost figures, each measured in the same run as its baseline.

Run with ``python -m bench.run``; ``python -m bench.package`` builds the deployable bundle (`make package`).
"""
