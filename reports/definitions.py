"""Every metric the report shows, defined in one sentence with the columns it comes from.

The keys are the paths of the values in `metrics.json` (within a `runs[]` entry; `[]` marks
a list of rows).
This module is pure data: the report, `docs/reports.md` and the tests all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFINITIONS", "Definition", "define"]


@dataclass(frozen=True)
class Definition:
    key: str
    sentence: str
    sources: tuple[str, ...]


_PRIORITY_OR_CHANNEL = (
    ("orders", "Orders of this class.", ("orders.csv",)),
    ("paid", "Orders of this class that were paid.", ("orders.csv:paid_at",)),
    (
        "delayed",
        "Paid orders of this class that missed the SLA (see headline.delayed).",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s,ended_at"),
    ),
    (
        "delay_rate",
        "delayed / decided paid orders of this class, a fraction (null when none is decided).",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s,ended_at"),
    ),
    (
        "ttd_p50_s",
        "Median seconds from payment to delivery over delivered orders of this class.",
        ("orders.csv:paid_at,delivered_at",),
    ),
    (
        "ttd_p95_s",
        "95th percentile seconds from payment to delivery over delivered orders of this class.",
        ("orders.csv:paid_at,delivered_at",),
    ),
)

_RAW: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # run identity
    ("run.run_id", "The run's identifier.", ("run.json:run_id",)),
    ("run.scenario", "The scenario that ran.", ("run.json:scenario",)),
    (
        "run.variant",
        "The scenario variant (null when the scenario has none).",
        ("run.json:variant",),
    ),
    ("run.seed", "The run's random seed.", ("run.json:seed",)),
    ("run.format_version", "The run directory's format version.", ("run.json:format_version",)),
    (
        "run.view",
        "Where the run was seen from: inside (the reference shop's database) or outside (an "
        "external target, as its buyers and the payment gateway saw it).",
        ("run.json:view",),
    ),
    (
        "run.not_observable",
        "The metrics a run seen from outside cannot know; they are null, not zero.",
        ("run.json:unobservable",),
    ),
    ("run.started_at", "Run start, UNIX epoch seconds.", ("run.json:started_at",)),
    ("run.ended_at", "Run end, UNIX epoch seconds.", ("run.json:ended_at",)),
    ("run.duration_s", "Run length in seconds.", ("run.json:duration_s",)),
    (
        "run.sla_s",
        "Seconds from payment within which an order must be delivered.",
        ("run.json:sla_s",),
    ),
    ("run.transparency", "The shop's transparency mode.", ("run.json:shop.transparency",)),
    ("run.valid", "False when the drill marked the run invalid.", ("run.json:valid",)),
    (
        "run.warnings",
        "What looks wrong in the run directory's files: a table with fewer rows than the drill "
        "wrote (run.json load.counts), or a last line cut off.",
        ("run.json:load.counts", "orders.csv", "events.csv", "polls.csv", "tickets.csv"),
    ),
    # headline
    ("headline.orders", "Orders created during the run.", ("orders.csv:order_no",)),
    (
        "headline.paid",
        "Orders paid: the shop confirmed the payment or the buyer said they had paid (the "
        "delay clock starts at the earlier of the two).",
        ("orders.csv:paid_at,buyer_paid_at",),
    ),
    ("headline.delivered", "Orders whose keys were attached.", ("orders.csv:delivered_at",)),
    (
        "headline.undecided",
        "Paid orders not delivered at the end that were paid less than sla_s before it "
        "(their SLA outcome is unknown, so they count in no rate).",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s,ended_at"),
    ),
    (
        "headline.delayed",
        "Paid orders delivered more than sla_s after payment, or not delivered by the end of "
        "the run although paid at least sla_s before it.",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s,ended_at"),
    ),
    (
        "headline.delay_rate",
        "delayed / (paid - undecided), a fraction (null when no paid order is decided).",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s,ended_at"),
    ),
    (
        "headline.ttd_p50_s",
        "Median seconds from payment to delivery over delivered paid orders "
        "(percentiles interpolate linearly).",
        ("orders.csv:paid_at,delivered_at",),
    ),
    (
        "headline.ttd_p95_s",
        "95th percentile seconds from payment to delivery over delivered paid orders.",
        ("orders.csv:paid_at,delivered_at",),
    ),
    (
        "headline.ttd_p99_s",
        "99th percentile seconds from payment to delivery over delivered paid orders.",
        ("orders.csv:paid_at,delivered_at",),
    ),
    (
        "headline.ttd_max_s",
        "Longest seconds from payment to delivery over delivered paid orders.",
        ("orders.csv:paid_at,delivered_at",),
    ),
    ("headline.faults_injected", "Faults injected during the run.", ("faults.csv:fault_id",)),
    ("headline.slos_passed", "SLOs the drill judged met.", ("run.json:slos[].passed",)),
    ("headline.slos_failed", "SLOs the drill judged breached.", ("run.json:slos[].passed",)),
    ("slos[].name", "The SLO's name.", ("run.json:slos[].name",)),
    ("slos[].target", "The SLO's target as the scenario states it.", ("run.json:slos[].target",)),
    ("slos[].observed", "The value the drill observed.", ("run.json:slos[].observed",)),
    ("slos[].passed", "Whether the drill judged the SLO met.", ("run.json:slos[].passed",)),
    # over time
    (
        "over_time.window_s",
        "Width of the time windows of the over-time figures, seconds (the smallest of "
        "1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600 giving at most 60 windows).",
        ("run.json:duration_s",),
    ),
    ("over_time.windows", "Number of time windows.", ("run.json:duration_s",)),
    (
        "over_time.peak_arrival_rate_per_s",
        "Highest orders created per second in one window.",
        ("orders.csv:created_at",),
    ),
    (
        "over_time.peak_queue_depth",
        "Highest number of paid but not yet delivered orders at any instant.",
        ("orders.csv:paid_at,delivered_at",),
    ),
    (
        "over_time.peak_queue_depth_at_s",
        "Seconds after the run start when the queue depth first reached its peak.",
        ("orders.csv:paid_at,delivered_at", "run.json:started_at"),
    ),
    (
        "over_time.worst_window_delay_rate",
        "Highest delay rate among windows, where a window's rate is over the decided orders "
        "paid in it.",
        ("orders.csv:paid_at,delivered_at", "run.json:sla_s"),
    ),
    # stages
    ("stages[].state", "An order state entered (a stage).", ("events.csv:state",)),
    (
        "stages[].transitions",
        "Times an order spent a measurable interval in this state.",
        ("events.csv:order_no,seq,at,state",),
    ),
    (
        "stages[].total_s",
        "Seconds all orders spent in this state: from entering it to the order's next event, "
        "or to the end of the run when it was the last non-terminal state.",
        ("events.csv:order_no,seq,at,state", "run.json:ended_at"),
    ),
    ("stages[].mean_s", "total_s / transitions.", ("events.csv:order_no,seq,at,state",)),
    (
        "stages[].p95_s",
        "95th percentile of the seconds one order spent in this state.",
        ("events.csv:order_no,seq,at,state",),
    ),
    ("stages[].share", "total_s / the sum of total_s over all states.", ("events.csv:at,state",)),
    # where each traced order's time went, from its spans (reports/traces.py, tracing.md)
    ("trace_time[].component", "shop (its own spans less the calls they made), queue (paid, "
     "waiting for a worker), an upstream (its own server spans of the shop's calls) or "
     "network (each call's client span less the upstream's server span).",
     ("traces/*.jsonl",)),
    ("trace_time[].orders", "Traced orders (traces with the shop's POST /api/orders span).",
     ("traces/shop.jsonl",)),
    ("trace_time[].total_s", "Seconds of this component summed over the traced orders.",
     ("traces/*.jsonl",)),
    ("trace_time[].mean_ms", "total_s / orders, in milliseconds.", ("traces/*.jsonl",)),
    ("trace_time[].p95_ms", "95th percentile over the traced orders of this component's "
     "milliseconds in one order.", ("traces/*.jsonl",)),
    ("trace_time[].share", "total_s / the sum of total_s over all components.",
     ("traces/*.jsonl",)),
    # repeatability (reports/repeatability.py: the catalog's measured repeats)
    ("repeatability.measured", "Whether repeats of this run's drill (its scenario's load "
     "and faults) were measured (reports/repeatability.py MEASURED).", ("run.json:scenario",)),
    ("repeatability.figure", "The headline figure the repeats measured.", ()),
    ("repeatability.repeats", "How many repeats were measured.", ()),
    ("repeatability.min", "The lowest value of the figure over the repeats.", ()),
    ("repeatability.max", "The highest value of the figure over the repeats.", ()),
    ("repeatability.sd", "Standard deviation (n - 1) of the figure over the repeats.", ()),
    ("repeatability.run_interval_low", "Lower bound of the 95% prediction interval for one "
     "run (Student t on the logit of a rate, reports/spread.py).", ()),
    ("repeatability.run_interval_high", "Upper bound of that interval.", ()),
    ("repeatability.this_run", "This run's value of the figure (headline).", ("orders.csv",)),
    ("repeatability.inside", "Whether this run's value is inside the one-run interval.", ()),
    ("repeatability.note", "How far this run's figures can be trusted, in words.", ()),
    ("repeatability.source", "Where the repeats come from (drills, machine, dates).", ()),
    # admission (attempts.csv: each try at placing an order)
    ("admission.buyers", "Buyers who tried to place an order (journeys in attempts.csv).",
     ("attempts.csv:journey",)),
    ("admission.attempts", "Tries at placing an order, retries included.",
     ("attempts.csv:outcome",)),
    ("admission.refusals", "Tries the shop answered busy (503 or 429 with Retry-After).",
     ("attempts.csv:outcome",)),
    ("admission.failed_attempts", "Tries that got any other error, or no answer.",
     ("attempts.csv:outcome",)),
    ("admission.buyers_refused", "Buyers refused at least once.", ("attempts.csv",)),
    ("admission.buyers_refused_share", "buyers_refused / buyers.", ("attempts.csv",)),
    ("admission.buyers_served_after_refusal",
     "Buyers refused at least once whose retry placed the order.", ("attempts.csv",)),
    ("admission.buyers_gave_up", "Buyers who gave up after a refusal (their choice, or a "
     "wait longer than their max_wait_s, or retries spent).", ("attempts.csv:outcome",)),
    ("admission.buyers_gave_up_share", "buyers_gave_up / buyers.", ("attempts.csv",)),
    ("admission.create_p50_s", "Median answer time of order placement, accepted or refused.",
     ("attempts.csv:latency_ms",)),
    ("admission.create_p99_s", "99th percentile answer time of order placement, accepted or "
     "refused.", ("attempts.csv:latency_ms",)),
    ("admission.retry_after_p50_s", "Median Retry-After the shop gave with a refusal.",
     ("attempts.csv:retry_after_s",)),
    ("admission.goodput_per_s", "Paid orders delivered inside the SLA, per second of the run.",
     ("orders.csv:paid_at,delivered_at", "run.json:sla_s,started_at,ended_at")),
    ("admission.paid_inside_sla", "Paid orders delivered inside the SLA.",
     ("orders.csv:paid_at,delivered_at", "run.json:sla_s")),
    ("admission.paid_inside_sla_share", "paid_inside_sla / headline.paid.",
     ("orders.csv:paid_at,delivered_at", "run.json:sla_s")),
    ("admission.refusals_per_s", "refusals per second of the run.",
     ("attempts.csv", "run.json:started_at,ended_at")),
    # disputes (disputes.csv: buyers' claims of non-delivery, contract/disputes.py)
    ("disputes.claims", "Claims of non-delivery buyers made after their order ended.",
     ("disputes.csv",)),
    ("disputes.honest_claims", "Claims by buyers who left without being shown their keys.",
     ("disputes.csv:kind",)),
    ("disputes.false_claims", "Claims of non-delivery by buyers who had been shown their keys.",
     ("disputes.csv:kind",)),
    ("disputes.key_claims", "Claims that a key shown does not work (no receipt settles them).",
     ("disputes.csv:kind",)),
    ("disputes.settled_by_receipt", "Claims settled by a receipt that verified against the "
     "shop's published key, either way.", ("disputes.csv:settled_by",)),
    ("disputes.settled_by_receipt_share", "settled_by_receipt / claims.",
     ("disputes.csv:settled_by",)),
    ("disputes.settled_for_buyer", "Claims a verified receipt without a delivered milestone "
     "settled for the buyer (refund or redeliver).", ("disputes.csv:outcome",)),
    ("disputes.settled_against_buyer", "Claims a verified delivered milestone settled against "
     "the buyer.", ("disputes.csv:outcome",)),
    ("disputes.honest_settled_against", "Honest claims settled against the buyer: the order "
     "was delivered after the buyer left.", ("disputes.csv:kind,outcome",)),
    ("disputes.false_settled_for", "False claims settled for the buyer (a receipt without "
     "the delivery the buyer was shown).", ("disputes.csv:kind,outcome",)),
    ("disputes.open", "Claims nothing settled: a status dispute (ticket) for support.",
     ("disputes.csv:outcome",)),
    ("disputes.claims_per_100_paid", "claims per 100 paid orders.",
     ("disputes.csv", "orders.csv:paid_at")),
    ("disputes.open_per_100_paid", "open per 100 paid orders.",
     ("disputes.csv:outcome", "orders.csv:paid_at")),
    ("disputes.settle_p50_s", "Median time from a claim to its settlement by receipt.",
     ("disputes.csv:settle_s",)),
    ("disputes.settle_p95_s", "95th percentile time from a claim to its settlement by receipt.",
     ("disputes.csv:settle_s",)),
    # transparency
    (
        "transparency.observations",
        "Status observations buyers made (polls and pushes), any HTTP status.",
        ("polls.csv",),
    ),
    (
        "transparency.polls_per_order",
        "observations / headline.orders.",
        ("polls.csv", "orders.csv"),
    ),
    (
        "transparency.waiting_observations",
        "Successful (HTTP 2xx) observations made before the order was delivered.",
        ("polls.csv:http_status,at", "orders.csv:delivered_at"),
    ),
    (
        "transparency.stage_visibility",
        "Share of waiting observations that named a specific stage (not a generic "
        "'processing'-like state) and showed an ETA.",
        ("polls.csv:state_seen,eta_seen,http_status,at", "orders.csv:delivered_at"),
    ),
    (
        "transparency.vacuum_orders",
        "Delayed orders with at least one successful observation.",
        ("polls.csv:order_no,http_status", "orders.csv"),
    ),
    (
        "transparency.vacuum_p50_s",
        "Median over delayed orders of the information vacuum: the longest time between "
        "successive changes of what the buyer saw (state, message, ETA), the last lasting "
        "until the buyer's last observation.",
        ("polls.csv:order_no,at,state_seen,message_seen,eta_seen,http_status",),
    ),
    (
        "transparency.vacuum_p90_s",
        "90th percentile over delayed orders of the information vacuum.",
        ("polls.csv:order_no,at,state_seen,message_seen,eta_seen,http_status",),
    ),
    (
        "transparency.vacuum_max_s",
        "Longest information vacuum of any delayed order.",
        ("polls.csv:order_no,at,state_seen,message_seen,eta_seen,http_status",),
    ),
    (
        "transparency.etas_judged",
        "Distinct (order, ETA) pairs shown to buyers whose outcome is known: the order was "
        "delivered, or the ETA passed before the run ended.",
        ("polls.csv:order_no,eta_seen,http_status", "orders.csv:delivered_at", "run.json:ended_at"),
    ),
    (
        "transparency.eta_on_time_share",
        "Share of judged ETAs that the delivery met (delivered_at <= the ETA).",
        ("polls.csv:order_no,eta_seen", "orders.csv:delivered_at"),
    ),
    (
        "transparency.eta_abs_error_p50_s",
        "Median of |delivered_at - ETA| over judged ETAs of delivered orders.",
        ("polls.csv:order_no,eta_seen", "orders.csv:delivered_at"),
    ),
    ("transparency.tickets", "Support tickets buyers filed.", ("tickets.csv",)),
    (
        "transparency.tickets_per_100_delayed",
        "100 * tickets / headline.delayed (null when nothing was delayed).",
        ("tickets.csv", "orders.csv:paid_at,delivered_at"),
    ),
    (
        "transparency.tickets_by_reason",
        "Tickets per reason (stale_status, eta_passed, gave_up).",
        ("tickets.csv:reason",),
    ),
    (
        "transparency.faults_with_incident_note",
        "Faults after whose start the status page posted an incident update before the run ended.",
        ("faults.csv:started_at", "incidents.csv:at"),
    ),
    (
        "transparency.incident_note_delay_p50_s",
        "Median over those faults of seconds from the fault's start to the first incident update "
        "(any component) at or after it.",
        ("faults.csv:started_at", "incidents.csv:at"),
    ),
    # faults
    ("faults[].fault_id", "The fault's identifier.", ("faults.csv:fault_id",)),
    ("faults[].link", "The link the fault was put on.", ("faults.csv:link",)),
    ("faults[].kind", "The toxic type or business fault.", ("faults.csv:kind",)),
    ("faults[].toxicity", "Share of connections affected.", ("faults.csv:toxicity",)),
    (
        "faults[].start_s",
        "Seconds after the run start when the fault began.",
        ("faults.csv:started_at", "run.json:started_at"),
    ),
    (
        "faults[].end_s",
        "Seconds after the run start when the fault was removed (null when never).",
        ("faults.csv:ended_at", "run.json:started_at"),
    ),
    (
        "faults[].incident_note_delay_s",
        "Seconds from the fault's start to the first incident update at or after it (null: none).",
        ("faults.csv:started_at", "incidents.csv:at"),
    ),
    # model vs measurement
    ("model.windows", "Simulation windows compared.", ("simulation/windows.csv",)),
    (
        "model.delay_rate_mae",
        "Mean over windows of |predicted - measured delay rate|, windows with a measured rate.",
        ("simulation/windows.csv:predicted_delay_rate", "orders.csv:paid_at,delivered_at"),
    ),
    (
        "model.delay_rate_bias",
        "Mean over windows of predicted - measured delay rate.",
        ("simulation/windows.csv:predicted_delay_rate", "orders.csv:paid_at,delivered_at"),
    ),
    (
        "model.p95_mae_s",
        "Mean over windows of |predicted - measured p95 seconds from payment to delivery|.",
        ("simulation/windows.csv:predicted_p95_s", "orders.csv:paid_at,delivered_at"),
    ),
    ("model.summary", "The simulator's own summary, as written.", ("simulation/summary.json",)),
    # postmortem
    ("postmortem.status", "The drill journal's status.", ("chaos.json:status",)),
    (
        "postmortem.deviated",
        "Whether the steady state failed after the method.",
        ("chaos.json:deviated",),
    ),
    (
        "postmortem.trigger_s",
        "Seconds after the run start when the first fault began.",
        ("faults.csv:started_at", "run.json:started_at"),
    ),
    (
        "postmortem.detection_s",
        "Seconds from the first fault's start to the first incident update after it.",
        ("faults.csv:started_at", "incidents.csv:at"),
    ),
    (
        "postmortem.recovered_s",
        "Seconds after the run start when, after the last fault ended, the queue depth first "
        "fell to its level at the first fault's start (null: never).",
        ("faults.csv", "orders.csv:paid_at,delivered_at"),
    ),
    (
        "postmortem.action_items[].kind",
        "mitigate, prevent, detect or communicate.",
        ("orders.csv", "events.csv", "faults.csv", "polls.csv", "incidents.csv"),
    ),
    (
        "postmortem.action_items[].text",
        "A suggested action derived from the data, naming the stage or link.",
        ("orders.csv", "events.csv", "faults.csv", "polls.csv", "incidents.csv"),
    ),
    # comparison (top level of metrics.json)
    (
        "comparison.baseline",
        "run_id of the run the others are compared with.",
        ("run.json:run_id",),
    ),
    (
        "comparison.scenario",
        "The scenario every compared run ran (its variants compared), null when they differ.",
        ("run.json:scenario,variant",),
    ),
    ("comparison.resamples", "Bootstrap resamples per statistic.", ()),
    ("comparison.seed", "Seed of the bootstrap's random generator.", ()),
    ("comparison.confidence", "Confidence level of the intervals.", ()),
    ("comparison.rows[].run_id", "The run compared with the baseline.", ("run.json:run_id",)),
    ("comparison.rows[].label", "The run's variant, or its run_id.", ("run.json:variant",)),
    ("comparison.rows[].metric", "Which metric the row compares.", ()),
    ("comparison.rows[].baseline", "The metric's value in the baseline run.", ()),
    ("comparison.rows[].value", "The metric's value in this run.", ()),
    ("comparison.rows[].delta", "value - baseline.", ()),
    (
        "comparison.rows[].ci_low",
        "Lower bound of the percentile bootstrap interval of the delta (orders resampled "
        "within each run).",
        (),
    ),
    ("comparison.rows[].ci_high", "Upper bound of that interval.", ()),
)


def _build() -> dict[str, Definition]:
    rows = list(_RAW)
    for table in ("by_priority", "by_channel"):
        column = "priority" if table == "by_priority" else "channel"
        rows.append((f"{table}[].{column}", f"The {column} class.", (f"orders.csv:{column}",)))
        rows.extend(
            (f"{table}[].{key}", sentence, src) for key, sentence, src in _PRIORITY_OR_CHANNEL
        )
    return {key: Definition(key, sentence, sources) for key, sentence, sources in rows}


DEFINITIONS: dict[str, Definition] = _build()


def define(key: str) -> Definition:
    """The definition of a metric key; KeyError names the key when it is undefined."""
    return DEFINITIONS[key]
