"""McNemar's exact test: against a direct binomial sum, and the verdicts."""

import math

import pytest
import torch

from enresnet.evaluate.paired import CANNOT_TELL, FAILS, HOLDS, mcnemar, sign_flip


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


def brute_force_p(d: list[float]) -> float:
    """P(|sum s_i d_i| >= |sum d_i|) over every one of the 2^m sign vectors (the definition, enumerated)."""
    import itertools

    observed = abs(sum(d))
    hits = sum(abs(sum(s * v for s, v in zip(signs, d))) >= observed - 1e-9
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


@pytest.mark.parametrize("a, b", [
    ([1, 0.8, 0.6, 1, 0.4, 0.2, 1, 0, 0.6, 1, 0.8], [0.6, 1, 0.2, 0, 0.4, 0, 1, 0.2, 0.8, 0.4, 0.2]),
    ([0.8, 0.6, 1, 0.4, 1, 1], [0, 0.6, 0.4, 1, 0.2, 0]),
    ([0.5, 1, 0.5, 0, 1, 0.5, 1, 1, 0.5], [0.2, 0.4, 0.6, 0.8, 1, 0, 0.2, 0.4, 0.6]),  # draws 2 against 5: L = 10
])
def test_sign_flip_is_exact_for_counts_over_draws(a, b):
    result = sign_flip(torch.tensor(a), torch.tensor(b))
    d = [x - y for x, y in zip(a, b) if x != y]
    assert result.method == "sign-flip, exact"
    assert result.p_value == pytest.approx(brute_force_p(d), rel=1e-12, abs=1e-15)


def test_sign_flip_one_sided_images_get_the_exact_tail_not_a_monte_carlo_floor():
    # 37 images where A scores higher by 0.2 or 0.4 and none where B does: only the all-plus and all-minus
    # sign vectors reach the observed sum, p = 2 / 2^37 (a Monte Carlo test with 100,000 draws says ~1e-5).
    a = torch.tensor([0.8] * 20 + [1.0] * 17 + [0.4] * 63)
    b = torch.tensor([0.6] * 20 + [0.6] * 17 + [0.4] * 63)
    assert sign_flip(a, b).p_value == pytest.approx(2 / 2**37, rel=1e-9)


def test_sign_flip_monte_carlo_for_scores_that_are_not_counts():
    a, b = torch.tensor([0.731, 0.2, 0.9, 0.55]), torch.tensor([0.1, 0.3, 0.2, 0.5])
    result = sign_flip(a, b)
    assert result.method.startswith("sign-flip, 100,000 draws")
    assert result.p_value == pytest.approx(brute_force_p([0.631, -0.1, 0.7, 0.05]), abs=0.01)
