"""examples/chirality.py: the O(3) net cannot tell a piece from its mirror image.

That the SO(3) net can is measured by the script's full run (README: 100 % vs
87.5 %); an untrained SO(3) Tetris net barely sees chirality (its logits for the
mirror pair differ by ~1e-6), so the suite checks the SO(3) side on a layer stack
(tests/layers/test_se3_conv3d.py::test_so3_stack_sees_chirality_o3_stack_does_not).
"""

from .scripts import load_example


def test_o3_net_gives_the_mirror_pair_the_same_logits():
    # Two training steps: the O(3) net's blindness holds for any weights.
    args = ["--steps", "2", "--grid", "13", "--block", "2"]
    results = load_example("chirality").main(args)
    assert results["O(3)"]["mirror_gap"] <= 1e-5
    assert set(results) == {"SO(3)", "O(3)"}
