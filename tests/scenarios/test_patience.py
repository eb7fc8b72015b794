from fakalab.scenarios.locust.patience import Watch


def test_stale_status_files_one_ticket() -> None:
    watch = Watch(paid_at=100.0, patience_s=10.0, max_wait_s=60.0)
    assert watch.observe(101, "paid", "Payment received", None) is None
    assert watch.observe(110, "paid", "Payment received", None) is None
    assert watch.observe(111, "paid", "Payment received", None) == "stale_status"
    assert watch.observe(130, "paid", "Payment received", None) is None


def test_a_change_resets_the_clock() -> None:
    watch = Watch(paid_at=100.0, patience_s=10.0, max_wait_s=60.0)
    watch.observe(101, "paid", "m", None)
    watch.observe(109, "risk_check", "m", None)
    assert watch.observe(118, "risk_check", "m", None) is None
    assert watch.observe(120, "risk_check", "m", None) == "stale_status"


def test_a_passed_eta_files_a_ticket_even_when_refreshed() -> None:
    watch = Watch(paid_at=100.0, patience_s=100.0, max_wait_s=600.0)
    watch.observe(101, "paid", "m", 105.0)
    assert watch.observe(104, "paid", "m", 105.0) is None
    assert watch.observe(106, "paid", "m", 120.0) == "eta_passed"


def test_give_up_after_max_wait_and_done_states() -> None:
    watch = Watch(paid_at=0.0, patience_s=5.0, max_wait_s=30.0)
    assert watch.observe(6, "paid", "m", None) == "stale_status"
    assert watch.observe(30, "paid", "m", None) is None  # one ticket per buyer
    assert watch.gave_up
    fresh = Watch(paid_at=0.0, patience_s=50.0, max_wait_s=30.0)
    assert fresh.observe(31, "paid", "m", None) == "gave_up"
    done = Watch(paid_at=0.0, patience_s=1.0, max_wait_s=3.0)
    assert done.observe(10, "delivered", "m", None) is None and not done.gave_up
