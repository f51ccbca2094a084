"""pytest configuration of the benchmarks.

``compare_dadapy.py`` is a script for an environment of its own (DADApy needs numpy < 2), not
a benchmark: it is not collected, not even for doctests.
"""

collect_ignore = ["compare_dadapy.py"]
