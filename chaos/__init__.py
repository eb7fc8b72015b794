"""fakalab: chaos — the embedded Toxiproxy-compatible server, its client, and drill plans.

Entries: `chaos.server` (EmbeddedToxiproxy, ToxiproxyThread, ToxiproxySubprocess),
`chaos.client` (ToxiproxyClient, connect_or_start), `chaos.plan` (load_plan),
`chaos.runner` (PlanRunner), `chaos.journal` (Journal, fault_rows). See docs/chaos.md.
"""
