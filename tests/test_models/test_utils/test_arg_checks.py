import pytest

from dcp_mm.models.utils.arg_checks import check_positive_ints


def test_positive_ints_pass():
    check_positive_ints(a=1, b=256)


@pytest.mark.parametrize('bad', [0, -3, 2.0, '4', None, True])
def test_non_positive_ints_are_named(bad):
    with pytest.raises(ValueError, match=r'num_heads must be a positive int'):
        check_positive_ints(cost_dims=8, num_heads=bad)
