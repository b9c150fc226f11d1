"""check_choice: returns the value or names the argument and the choices."""
import pytest

from vision_sparse.utils.checks import check_choice


def test_check_choice():
    assert check_choice('mode', 'soft', ('argmax', 'soft')) == 'soft'
    assert check_choice('n', 2, [1, 2]) == 2
    with pytest.raises(ValueError,
                       match=r"mode must be one of \('argmax', 'soft'\), "
                             r"got 'hard'"):
        check_choice('mode', 'hard', ('argmax', 'soft'))
