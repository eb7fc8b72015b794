import httpx

from fakalab.reference_shop.upstreams.callbacks import RETRY_DELAYS_S, acknowledged, retry_schedule


def test_schedule_is_one_two_four_eight_sixteen_seconds_scaled() -> None:
    assert RETRY_DELAYS_S == (1, 2, 4, 8, 16)
    assert retry_schedule(1.0) == [1, 2, 4, 8, 16]
    assert retry_schedule(0.5) == [0.5, 1, 2, 4, 8]


def test_only_200_success_acknowledges() -> None:
    assert acknowledged(httpx.Response(200, text="success"))
    assert acknowledged(httpx.Response(200, text="success\n"))
    assert not acknowledged(httpx.Response(200, text="fail"))
    assert not acknowledged(httpx.Response(200, text='{"status": "success"}'))
    assert not acknowledged(httpx.Response(500, text="success"))
