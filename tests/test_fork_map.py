"""`fork_map.imap`: every item mapped once, in forked workers, whatever happens to them."""

import os
import signal

import pytest

from tb_lr_plugin import fork_map


def _square_in_a_child(x):
    return x * x, os.getpid()


def test_every_item_is_mapped_once_in_worker_processes():
    got = dict(fork_map.imap(_square_in_a_child, list(range(20)), jobs=2))
    assert sorted(got) == list(range(20))
    assert all(value == i * i for i, (value, _) in got.items())
    pids = {pid for _, pid in got.values()}
    assert len(pids) == 2 and os.getpid() not in pids


def test_one_job_maps_in_this_process():
    got = dict(fork_map.imap(_square_in_a_child, [1, 2, 3], jobs=1))
    assert {pid for _, pid in got.values()} == {os.getpid()}


def test_shares_balance_the_weights():
    shares = fork_map.shares([100, 1, 1, 1, 60, 40], 2)
    assert sorted(i for share in shares for i in share) == list(range(6))
    assert [sum([100, 1, 1, 1, 60, 40][i] for i in share) for share in shares] == [102, 101]


def test_an_error_in_a_worker_is_raised_here():
    def fails_on_three(x):
        if x == 3:
            raise ValueError(f"bad item {x}")
        return x

    with pytest.raises(ValueError, match="bad item 3"):
        dict(fork_map.imap(fails_on_three, list(range(6)), jobs=2))


def test_what_a_killed_worker_left_is_mapped_here():
    parent = os.getpid()

    def dies_on_two(x):
        if x == 2 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return x * 10, os.getpid()

    got = dict(fork_map.imap(dies_on_two, list(range(8)), jobs=2))
    assert {i: value for i, (value, _) in got.items()} == {i: i * 10 for i in range(8)}
    assert got[2][1] == parent  # item 2 was redone here
