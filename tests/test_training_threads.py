"""`step_threads` (`grunet.training.threads`): the thread counts of a training step on the CPU."""

import pytest
import torch


def test_a_step_keeps_torch_on_one_thread_and_the_count_comes_back():
    """Where the compiled loop does a step's heavy work (small layers: it sums the weight gradients itself), torch's
    own ops run on one thread and the loop keeps torch's count for itself; where torch's GEMMs do the weight
    gradients (hidden 128 here) torch keeps its count; the counts are set back on leaving, also after an error."""
    from grunet import native
    from grunet.model import GRUNet
    from grunet.native import threads as loop_threads
    from grunet.training.threads import step_threads

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small = GRUNet(5, 20, 1, num_layers=2)
        with step_threads(small, 800):
            expected = (1, 2) if native.available() else (2, None)
            assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == expected
            if native.available():
                assert loop_threads.threads_for(800, 20, 20) == 2  # the loop may still take two
        assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
        with step_threads(small, 4):
            assert torch.get_num_threads() == 1
        large = GRUNet(64, 128, 1)
        with step_threads(large, 800):
            assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
        with pytest.raises(RuntimeError), step_threads(small, 32):
            raise RuntimeError("a step that fails")
        assert (torch.get_num_threads(), loop_threads.LOOP_THREADS) == (2, None)
    finally:
        torch.set_num_threads(previous)
