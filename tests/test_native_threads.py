"""grunet.native.threads: the thread policy and its timed choice."""

import torch

from grunet.native.threads import MIN_STEP_WORK_PER_THREAD, WIDE_HIDDEN, ThreadChooser, threads_for


def test_thread_policy_follows_the_work_of_a_step(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    minimum = MIN_STEP_WORK_PER_THREAD

    def work(batch, hidden_size, input_size):
        return batch * 3 * hidden_size * (hidden_size + input_size)

    assert threads_for(32, 20, 5) == 1  # mini-batches of 32: one thread
    assert threads_for(1, 256, 256) == threads_for(63, 256, 256) == 1  # a thread takes 32 columns
    for batch, hidden_size, input_size in [(800, 20, 1), (800, 20, 20), (4096, 20, 5), (64, 128, 128), (16, 64, 8)]:
        expected = max(1, min(4, work(batch, hidden_size, input_size) // minimum, batch // 32))
        assert threads_for(batch, hidden_size, input_size) == expected
    assert threads_for(100_000, 256, 256) == 4  # never more than torch's thread count
    # wide layers: a thread may take one vector of 16 columns (gru.cpp cuts 17-32 columns into two tiles there)
    assert threads_for(17, WIDE_HIDDEN, 128) == threads_for(16, WIDE_HIDDEN, 128) + 1 == 2
    assert threads_for(32, WIDE_HIDDEN - 1, 128) == 1 and threads_for(64, WIDE_HIDDEN - 1, 128) == 2
    batch = max(64, -(-2 * minimum // work(1, 20, 20)))  # the smallest batch with two threads' worth of work
    assert threads_for(batch - 1, 20, 20) == 1 and threads_for(batch, 20, 20) == 2


def test_the_thread_chooser_probes_both_counts_and_keeps_the_faster(monkeypatch):
    """In each round of `EVERY` calls of a shape the first 2 x PROBES alternate the rule's count and one thread;
    the rest use whichever was faster, and the next round probes again (a machine's load changes)."""
    monkeypatch.delenv("GRUNET_THREADS", raising=False)
    chooser = ThreadChooser()
    key, used = ("forward", 800, 20, 1, 50), []

    def call(seconds_for):
        threads = chooser.threads(key, 2)
        used.append(threads)
        chooser.record(key, threads, seconds_for[threads])

    for _ in range(chooser.EVERY):
        call({1: 0.010, 2: 0.004})  # quiet: two threads are faster
    assert used[: 2 * chooser.PROBES] == [2, 1] * chooser.PROBES
    assert set(used[2 * chooser.PROBES :]) == {2}
    used.clear()
    for _ in range(chooser.EVERY):
        call({1: 0.010, 2: 0.016})  # a busy core: the second thread waits
    assert set(used[2 * chooser.PROBES :]) == {1}
    assert chooser.threads(("forward", 32, 20, 1, 50), 1) == 1  # the rule's one thread is never probed
    monkeypatch.setenv("GRUNET_THREADS", "fixed")
    assert ThreadChooser().threads(key, 2) == 2
