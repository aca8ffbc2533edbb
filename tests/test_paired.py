"""McNemar's exact test: against a direct binomial sum, and the verdicts."""

import math

import pytest
import torch

from enresnet.evaluate.paired import CANNOT_TELL, FAILS, HOLDS, mcnemar


def outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([1] * both + [1] * only_a + [0] * only_b + [0] * neither, dtype=torch.bool)
    b = torch.tensor([1] * both + [0] * only_a + [1] * only_b + [0] * neither, dtype=torch.bool)
    return a, b


@pytest.mark.parametrize("only_a,only_b", [(10, 2), (3, 3), (0, 7), (25, 12)])
def test_p_value_is_the_two_sided_exact_binomial_tail(only_a, only_b):
    result = mcnemar(*outcomes(50, only_a, only_b, 20))
    n, k = only_a + only_b, min(only_a, only_b)
    expected = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert (result.only_a, result.only_b, result.n) == (only_a, only_b, 50 + n + 20)
    assert result.accuracy_a - result.accuracy_b == pytest.approx((only_a - only_b) / result.n)


def test_verdicts():
    strong = mcnemar(*outcomes(100, 30, 5, 50))
    assert strong.p_value < 0.001
    assert strong.verdict(claim_a_better=True) == HOLDS and strong.verdict(claim_a_better=False) == FAILS
    assert mcnemar(*outcomes(100, 6, 4, 50)).verdict() == CANNOT_TELL  # 10 discordant images: no power
    assert mcnemar(*outcomes(100, 0, 0, 50)).p_value == 1.0


def test_large_counts_stay_finite_and_mismatched_inputs_are_refused():
    result = mcnemar(*outcomes(5000, 700, 600, 3000))
    assert 0 < result.p_value < 0.01
    with pytest.raises(ValueError, match="same images"):
        mcnemar(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
