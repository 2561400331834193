import os

import keras
import pytest


@pytest.fixture(autouse=True)
def _unseed_afterwards():
    # These tests seed Keras / numpy / Python globally; leave a fresh random state
    # behind so that tests running later in the same worker are not pinned to it.
    yield
    keras.utils.set_random_seed(int.from_bytes(os.urandom(4), "little") % 2**31)
