"""ltrr: a learning-to-rank-and-retrieve engine.

The package reads as the request pipeline (understand, select, retrieve, merge, rank, log,
learn); ``catalog`` and ``storage`` hold what every stage reads from.
"""

__version__ = "0.1.0"
