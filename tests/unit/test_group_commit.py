"""GroupCommit: writes from many threads share transactions, each caller gets its own outcome."""

from __future__ import annotations

import threading

import pytest

from persistence.db import GroupCommit


def test_every_caller_gets_its_own_result_and_groups_form_under_load():
    groups: list[list[int]] = []
    gate = threading.Event()

    def write_many(items: list[int]) -> list[int]:
        gate.wait(1)  # hold the first group so the others queue up behind it
        groups.append(items)
        return [i * 10 for i in items]

    def write_one(item: int) -> int:
        gate.wait(1)  # the first caller writes alone while the rest queue up behind it
        return item * 10

    commit: GroupCommit[int, int] = GroupCommit(write_many, write_one, max_items=64)
    results: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, commit.submit(i))) for i in range(40)
    ]
    for t in threads:
        t.start()
    threading.Timer(0.2, gate.set).start()
    for t in threads:
        t.join(10)
    assert results == {i: i * 10 for i in range(40)}
    assert sorted(i for g in groups for i in g) == sorted(set(range(40)) - _singles(groups, results))
    assert max(len(g) for g in groups) > 1


def _singles(groups: list[list[int]], results: dict[int, int]) -> set[int]:
    """Items written alone (a group of one goes through write_one, not write_many)."""
    return set(results) - {i for g in groups for i in g}


def test_a_bad_item_fails_alone_when_its_group_is_retried_one_by_one():
    def write_many(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("13 is unlucky")
        return items

    def write_one(item: int) -> int:
        if item == 13:
            raise ValueError("13 is unlucky")
        return item

    commit: GroupCommit[int, int] = GroupCommit(write_many, write_one)
    outcomes: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            outcomes[i] = commit.submit(i)
        except ValueError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert isinstance(outcomes.pop(13), ValueError)
    assert outcomes == {i: i for i in range(10, 20) if i != 13}


def test_a_single_caller_is_written_alone():
    commit: GroupCommit[str, str] = GroupCommit(lambda items: pytest.fail("no group of one"), str.upper)
    assert commit.submit("a") == "A"
