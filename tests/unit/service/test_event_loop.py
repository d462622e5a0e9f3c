"""Searches and feedback run on the event loop once the engine is free: under a held engine lock
(the log follower folding, a catalog change) they wait on the loop, which keeps answering
everything else meanwhile."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient


def test_a_held_engine_lock_blocks_the_search_not_the_loop(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    first = client.post("/v1/search", json={"query": "love story", "k": 3})
    assert first.status_code == 200
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    answers: dict[str, int] = {}

    def call(name: str, path: str, body: dict[str, object]) -> None:
        answers[name] = client.post(path, json=body).status_code

    click = {
        "request_id": first.json()["request_id"], "action_id": "a-1",
        "entity_id": first.json()["results"][0]["id"], "kind": "click",
    }  # fmt: skip
    waiting = [
        threading.Thread(target=call, args=("search", "/v1/search", {"query": "night drive"})),
        threading.Thread(target=call, args=("feedback", "/v1/feedback", click)),
    ]
    for t in waiting:
        t.start()
    for t in waiting:
        t.join(0.5)
    assert all(t.is_alive() for t in waiting)  # both wait for the engine...
    health = threading.Thread(
        target=lambda: answers.update(health=client.get("/healthz").status_code)
    )
    health.start()
    health.join(5)
    answered_while_held = not health.is_alive()  # a blocked loop answers only after release
    release.set()
    assert answered_while_held and answers.pop("health") == 200  # ...the loop answers
    holder.join(10)
    for t in waiting:
        t.join(30)
    assert answers == {"search": 200, "feedback": 200}
    again = client.post("/v1/feedback", json=click)
    assert again.json()["status"] == "duplicate"  # it was stored once, durably


def test_feedback_on_an_unlogged_request_waits_without_blocking(client: TestClient) -> None:
    """A click naming a request no worker has logged waits ``foreign_wait_ms`` (another worker
    may be committing it) outside the engine's lock and off the loop: a search meanwhile is
    answered, and the click is accepted once the impression appears during its wait."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    answers: dict[str, object] = {}
    first = client.post("/v1/search", json={"query": "love story", "k": 3}).json()
    late = {
        "request_id": "later-r1", "action_id": "late-1",
        "entity_id": first["results"][0]["id"], "kind": "click",
    }  # fmt: skip

    def call(name: str, path: str, body: dict[str, object]) -> None:
        response = client.post(path, json=body)
        answers[name] = (response.status_code, response.json())

    waiting = threading.Thread(target=call, args=("late", "/v1/feedback", late))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # waiting for the impression...
    search = threading.Thread(target=call, args=("search", "/v1/search", {"query": "night"}))
    search.start()
    search.join(1.0)  # ...while the worker answers a search (blocked, it would take 2 s)
    assert not search.is_alive() and answers["search"][0] == 200  # type: ignore[index]
    # the impression appears (as another worker's would), under the id the click names
    engine.search("love story", k=3, request_id="later-r1")
    engine.log.flush()
    waiting.join(5)
    assert answers["late"] == (200, {"action_id": "late-1", "status": "stored"})
    never = client.post("/v1/feedback", json={**late, "request_id": "never", "action_id": "n"})
    assert never.status_code == 422 and never.json()["error"]["field"] == "request_id"
