"""`make bench`: haoping's performance and cost figures, each measured in the same run as its baseline.

Run with ``python -m bench.run`` (`make bench`; ``--full`` for the larger recorded sizes); ``python -m deploy.package``
builds the deployable bundle (`make package`).
"""
