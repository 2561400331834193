"""examples/chirality.py: the O(3) net cannot tell a piece from its mirror image."""

from .scripts import load_example


def test_o3_net_gives_the_mirror_pair_the_same_logits_and_so3_does_not():
    # Two training steps: the O(3) net's blindness holds for any weights; the
    # SO(3) net's logits already differ (measured 1.1e-4 relative, seed 0; the
    # O(3) net's 9e-8, float32 rounding).
    results = load_example("chirality").main(["--steps", "2"])
    o3, so3 = results["O(3)"]["mirror_gap"], results["SO(3)"]["mirror_gap"]
    assert o3 <= 1e-5
    assert so3 >= 2e-5 and so3 >= 10 * o3
