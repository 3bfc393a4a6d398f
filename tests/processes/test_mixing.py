"""Tests of ``l2m_sim.processes.mixing``: the study's matrix, Hadamard/sign matrices and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import l2m_sim
from l2m_sim.processes.mixing import (
    default_copy_weights,
    hadamard_matrix,
    hadamard_mixing,
    has_hadamard,
    paper_mixing,
    sign_matrix,
    validate_mixing,
)

HADAMARD_ORDERS = [1, 2, 4, 8, 12, 16, 20, 24]


def test_paper_mixing_is_the_study_matrix():
    g, r = math.sqrt(5) / 4, 0.25
    expected = np.array([[g, g, g, r], [-g, g, -g, r], [-g, -g, g, r], [g, -g, -g, r]])
    M = paper_mixing()
    np.testing.assert_allclose(M, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(M, axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(hadamard_mixing(4, 3), M, rtol=0, atol=1e-15)
    assert l2m_sim.paper_mixing is paper_mixing
    # a fresh array each call: mutating one cannot corrupt the next
    M[0, 0] = 99.0
    assert paper_mixing()[0, 0] == pytest.approx(g)


def test_paper_mixing_copy_part():
    """P = M_c M_c^T has diagonal 15/16 and antipodal entry -5/16."""
    M = paper_mixing()
    P = M[:, :3] @ M[:, :3].T
    np.testing.assert_allclose(np.diag(P), 15 / 16, atol=1e-15)
    assert P[0, 3] == pytest.approx(-5 / 16, abs=1e-15)
    MMt = M @ M.T
    np.testing.assert_allclose(MMt, 1.25 * np.eye(4) - 0.25, atol=1e-15)


@pytest.mark.parametrize("b", HADAMARD_ORDERS)
def test_hadamard_matrix_orthogonal(b):
    H = hadamard_matrix(b)
    assert H.shape == (b, b)
    assert set(np.unique(H)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(H @ H.T, b * np.eye(b))
    assert has_hadamard(b)


@pytest.mark.parametrize("b", [3, 5, 6, 7, 9, 10])
def test_hadamard_matrix_unknown_orders(b):
    assert not has_hadamard(b)
    with pytest.raises(ValueError, match="branching"):
        hadamard_matrix(b)


@pytest.mark.parametrize("b", range(2, 21))
def test_sign_matrix_invertible(b):
    S = sign_matrix(b)
    assert S.shape == (b, b)
    assert set(np.unique(S)) <= {-1.0, 1.0}
    sv = np.linalg.svd(S, compute_uv=False)
    assert sv[-1] > 1e-8 * sv[0]
    if has_hadamard(b):
        np.testing.assert_array_equal(S, hadamard_matrix(b))


@pytest.mark.parametrize("b", range(2, 13))
def test_default_copy_weights(b):
    for k in range(1, b):
        w = default_copy_weights(b, k)
        assert w.sum() == pytest.approx(1.0, abs=1e-15)
        np.testing.assert_allclose(w[:k] / w[k:].max(), 5.0)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(b=st.integers(2, 16), data=st.data())
def test_hadamard_mixing_unit_rows_and_weights(b, data):
    k = data.draw(st.integers(1, b - 1))
    w = np.array(data.draw(st.lists(st.floats(0.01, 10.0), min_size=b, max_size=b)))
    M = hadamard_mixing(b, k, w)
    np.testing.assert_allclose(np.linalg.norm(M, axis=1), 1.0, rtol=0, atol=1e-12)
    # the column weights d_m^2 are the normalised weights (each entry is +-d_m)
    np.testing.assert_allclose(M**2, np.broadcast_to(w / w.sum(), (b, b)), rtol=1e-12)
    np.testing.assert_allclose(np.abs(M) * np.sqrt(w.sum() / w), 1.0, rtol=1e-12)
    if has_hadamard(b):
        np.testing.assert_allclose(M.T @ M, b * np.diag(w / w.sum()), atol=1e-12)


@pytest.mark.parametrize(
    "weights,match",
    [([1, 1, 1], "weights"), ([1, 1, 1, 0], "weights"), ([1, 1, -1, 1], "weights"),
     ([1, np.nan, 1, 1], "weights"), ([1, np.inf, 1, 1], "weights")],
)
def test_hadamard_mixing_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        hadamard_mixing(4, 3, weights)


def test_validate_mixing_accepts_and_normalises():
    M = paper_mixing()
    out = validate_mixing(M, 4, 3)
    np.testing.assert_allclose(out, M, atol=1e-15)
    # integer input and lists are fine
    S = np.array([[1, 1], [1, -1]]) * np.array([math.sqrt(0.8), math.sqrt(0.2)])
    np.testing.assert_allclose(validate_mixing(S.tolist(), 2, 1), S)


@pytest.mark.parametrize(
    "M,exc",
    [
        (np.eye(3) * 1.0, ValueError),  # wrong shape
        (np.ones((4, 3)) / math.sqrt(3), ValueError),  # not square
        (np.full((4, 4), 0.5), ValueError),  # unit rows but singular
        (np.eye(4), ValueError),  # orthogonal: white noise
        (hadamard_matrix(4) / 2, ValueError),  # orthogonal Hadamard
        (paper_mixing() * 1.01, ValueError),  # non-unit rows
        (np.where(np.eye(4) > 0, np.nan, paper_mixing()), ValueError),  # NaN
        ("abc", TypeError),
        ([[1, 0], [0]], TypeError),
    ],
    ids=["shape", "not-square", "singular", "identity", "hadamard", "norm", "nan", "str", "ragged"],
)
def test_validate_mixing_rejects(M, exc):
    with pytest.raises(exc, match="mixing"):
        validate_mixing(M, 4, 3)


def test_validate_mixing_nearly_singular():
    M = paper_mixing()
    M[3] = M[0] + 1e-13 * M[3]
    M = M / np.linalg.norm(M, axis=1, keepdims=True)
    with pytest.raises(ValueError, match="invertible"):
        validate_mixing(M, 4, 3)


# Regression: hadamard_mixing used to accept copies outside 1..b-1 (k = 0 is white noise).
@pytest.mark.parametrize("k", [0, 4, 5, -1])
def test_hadamard_mixing_validates_copies(k):
    with pytest.raises(ValueError, match="copies"):
        hadamard_mixing(4, k)
