from __future__ import annotations

import threading

from stackr.watch.debounce import Debouncer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_of_50_writes_is_one_batch() -> None:
    clock = FakeClock()
    debouncer: Debouncer[str] = Debouncer(0.1, clock=clock)
    batches = []
    for index in range(50):
        debouncer.add(f"write {index}")
        clock.now += 0.005  # 5 ms apart: never quiet for 100 ms
        batch = debouncer.take()
        if batch:
            batches.append(batch)
    assert batches == []
    clock.now += 0.1
    batches.append(debouncer.take())
    assert len(batches) == 1 and len(batches[0]) == 50
    assert debouncer.take() == []
    assert debouncer.due_in() is None


def test_not_due_before_quiet_period() -> None:
    clock = FakeClock()
    debouncer: Debouncer[int] = Debouncer(0.2, clock=clock)
    debouncer.add(1)
    clock.now += 0.19
    assert debouncer.take() == []
    due = debouncer.due_in()
    assert due is not None and abs(due - 0.01) < 1e-9
    clock.now += 0.02
    assert debouncer.take() == [1]


def test_continuous_writes_released_at_max_delay() -> None:
    clock = FakeClock()
    debouncer: Debouncer[int] = Debouncer(0.1, max_delay=1.0, clock=clock)
    released = []
    for index in range(300):  # a file written every 10 ms for 3 s
        debouncer.add(index)
        clock.now += 0.01
        batch = debouncer.take()
        if batch:
            released.append(batch)
    assert len(released) == 3  # one per second, none lost
    assert sum(len(b) for b in released) + len(debouncer.take() or []) <= 300


def test_two_bursts_two_batches() -> None:
    clock = FakeClock()
    debouncer: Debouncer[str] = Debouncer(0.05, clock=clock)
    debouncer.add("a")
    debouncer.add("b")
    clock.now += 0.06
    assert debouncer.take() == ["a", "b"]
    debouncer.add("c")
    clock.now += 0.06
    assert debouncer.take() == ["c"]


def test_wait_batch_wakes_on_close() -> None:
    debouncer: Debouncer[int] = Debouncer(10.0)
    result: list[list[int]] = []
    thread = threading.Thread(target=lambda: result.append(debouncer.wait_batch()))
    thread.start()
    debouncer.close()
    thread.join(5)
    assert result == [[]]


def test_wait_batch_real_clock() -> None:
    debouncer: Debouncer[int] = Debouncer(0.01)
    debouncer.add(7)
    assert debouncer.wait_batch(timeout=5) == [7]
    assert debouncer.wait_batch(timeout=0.01) == []
