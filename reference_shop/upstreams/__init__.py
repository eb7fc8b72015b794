"""The reference shop's upstream services: payment channels, suppliers, risk control, notification.

The apps live in ``payment``, ``supplier``, ``risk`` and ``notifier``; ``runner`` serves them;
``cli`` is the ``fakalab upstreams`` command. Their names, ports and default URLs are
`fakalab.contract.services`; the HTTP contract is docs/upstreams.md.
"""
