"""Searches and feedback run on the event loop only while the engine is free: a held engine lock
(the log follower folding, a catalog change) sends them to the thread pool, and the loop keeps
answering everything else meanwhile."""

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
