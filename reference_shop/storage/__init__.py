"""The shop's storage: every SQL statement of the shop, behind named functions over typed rows.

One module per concept (``orders``, ``events``, ``stock``, ``products``, ``callbacks``,
``incidents``, ``notifications``, ``tickets``, ``exports``), ``rows`` for the values they
return, and ``snapshot`` for reading a database at rest. The tables are in ``db.py``.
"""
