import asyncio

from ionpy_widgets.errors import LimitError
from ionpy_widgets.widgets.base import IonpyWidget
from ionpy_widgets.widgets.protocol import RequestRouter


def make_router():
    sent: list[dict] = []
    return RequestRouter(sent.append), sent


def req(kind, payload=None, rid="1", timeout=1000):
    return {"type": "request", "id": rid, "kind": kind, "payload": payload or {}, "timeout": timeout}


def test_sync_handler_gets_exactly_one_ok_reply():
    router, sent = make_router()
    router.register("add", lambda a, b: a + b)
    assert router.handle(req("add", {"a": 2, "b": 3})) is None
    assert sent == [{"type": "reply", "id": "1", "ok": True, "result": 5}]


def test_errors_become_replies_with_code_and_hint():
    router, sent = make_router()

    def bad(value):
        raise LimitError("u_set = 60 V is outside 0 … 50 V", hint="Choose a value between 0 and 50 V.")

    router.register("set", bad)
    router.register("crash", lambda: 1 / 0)
    router.handle(req("set", {"value": 60}, rid="a"))
    router.handle(req("crash", rid="b"))
    router.handle(req("nope", rid="c"))
    router.handle(req("set", {"unexpected": 1}, rid="d"))  # wrong arguments are a TypeError
    by_id = {m["id"]: m for m in sent}
    assert by_id["a"]["ok"] is False and by_id["a"]["error"]["code"] == "value_out_of_limits"
    assert by_id["a"]["error"]["hint"] == "Choose a value between 0 and 50 V."
    assert by_id["b"]["error"]["code"] == "internal_error"
    assert by_id["c"]["error"]["code"] == "unknown_request" and "crash" in by_id["c"]["error"]["hint"]
    assert by_id["d"]["ok"] is False
    assert len(sent) == 4


async def test_async_handler_streams_then_replies():
    router, sent = make_router()

    async def probe(stream, steps):
        for i in range(steps):
            stream.emit({"step": i})
            await asyncio.sleep(0)
        return {"success": True}

    router.register("probe", probe, stream=True)
    task = router.handle(req("probe", {"steps": 3}))
    await task
    assert [m["type"] for m in sent] == ["stream", "stream", "stream", "reply"]
    assert sent[-1] == {"type": "reply", "id": "1", "ok": True, "result": {"success": True}}


async def test_slow_handler_is_cancelled_and_answered_with_timeout():
    router, sent = make_router()

    async def slow():
        await asyncio.sleep(10)

    router.register("slow", slow)
    await router.handle(req("slow", timeout=20))
    assert sent[-1]["ok"] is False and sent[-1]["error"]["code"] == "request_timeout"


async def test_close_cancels_running_requests_with_a_reply():
    router, sent = make_router()
    router.register("wait", lambda: asyncio.sleep(10))
    router.handle(req("wait"))
    await asyncio.sleep(0)
    await router.close()
    assert sent[-1]["error"]["code"] == "request_cancelled"


def test_non_requests_are_ignored():
    router, sent = make_router()
    assert router.handle({"type": "reply"}) is None and router.handle("x") is None
    assert sent == []


def test_widget_base_loads_bundle_and_shows_errors():
    class Probe(IonpyWidget):
        VIEW = "probe-test"

    w = Probe()
    try:
        assert w._view_kind == "probe-test"
        assert "render" in Probe._esm
        w.show_error(LimitError("too high", hint="lower it"))
        assert w.error["code"] == "value_out_of_limits" and w.error["hint"] == "lower it"
        w.show_error(None)
        assert w.error == {}
    finally:
        w.close()
