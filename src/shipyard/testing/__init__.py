"""Contract suites for Shipyard's interfaces and extension tables, for its tests and plugins.

Each module holds the checks one kind of thing must pass, written once and run over every
entry (every store backend, every flavor, every drift statistic, ...), the way
scikit-learn's estimator checks run over every estimator. A plugin author runs the same
suite over their own entry. These modules need pytest (the ``dev`` extra).
"""
