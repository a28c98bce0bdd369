"""connectors.http: no httpx exception leaves a connector; statuses map to our error tree;
calls made side by side fail as one call would."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from connectors.errors import AuthFailed, RateLimited, Retryable
from connectors.http import check_status, side_by_side, translate_errors


def failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("half a response"),
        httpx.DecodingError("corrupt gzip"),
        httpx.TooManyRedirects("loop"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_every_request_error_becomes_retryable(exc: Exception) -> None:
    async with httpx.AsyncClient(transport=failing(exc)) as client:
        with pytest.raises(Retryable) as caught, translate_errors("GET /thing"):
            await client.get("http://platform.test/thing")
    assert str(caught.value).startswith("GET /thing: ")


def test_statuses_map_by_what_the_caller_can_do() -> None:
    request = httpx.Request("GET", "http://platform.test/")
    throttled = httpx.Response(429, headers={"x-retry-after": "7"}, request=request)
    with pytest.raises(RateLimited) as caught:
        check_status(throttled, "GET /", "x-retry-after")
    assert caught.value.retry_after == 7.0
    with pytest.raises(Retryable):
        check_status(httpx.Response(503, request=request), "GET /")
    with pytest.raises(AuthFailed):
        check_status(httpx.Response(401, request=request), "GET /")
    check_status(httpx.Response(422, request=request), "GET /")  # the platform client's to read


async def test_calls_side_by_side_answer_in_order_and_fail_as_one_call_would(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def answer(value: int, after: float) -> int:
        await trio.sleep(after)
        return value

    assert await side_by_side([lambda: answer(1, 3.0), lambda: answer(2, 1.0)]) == [1, 2]
    assert trio.current_time() == pytest.approx(3.0)  # together, not one after the other

    async def fail() -> int:
        await trio.sleep(1.0)
        raise Retryable("server error 500")

    finished = []

    async def slow() -> int:
        await trio.sleep(10.0)
        finished.append(True)
        return 0

    with pytest.raises(Retryable, match="500"):  # itself, not an exception group
        await side_by_side([slow, fail])
    assert not finished  # the others were stopped
