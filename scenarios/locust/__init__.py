"""The load generator. Only `locustfile.py`, `dispatcher.py` and `journeys.py` import Locust or
gevent (Locust monkey-patches the process); `arrivals`, `patience` and `records` are pure."""
