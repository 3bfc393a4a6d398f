r"""Closed forms of the hierarchical Gaussian family, derived with sympy.

Every ``derive_*`` function returns a :class:`Derivation`: a title, a Markdown explanation
(the argument, with inline LaTeX), displayed equations whose right-hand sides are sympy
objects, the exact checks sympy carried out (each a description and a bool), and a
``results`` dict of named sympy objects. ``theory.render`` turns the derivations into
Markdown; ``tests/test_theory.py`` evaluates ``results`` against the library at random
parameters.

Conventions are the library's. Positions are 0-based; a cut ``c`` puts positions
``0..c-1`` in X and the rest in Y. The base-b digits of a position are listed least
significant first: digit 0 is the column at the top level, digit ``l-1`` the column at
level 1. ``P = M_c M_c^T`` (first k columns: copies) and ``Q = M_f M_f^T`` (fresh columns),
so ``P + Q = M M^T``. Mutual information is in nats.

The building blocks (``paper_matrix``, ``gaussian_mi``, ``hierarchical_covariance``,
``digit_correlation``, ...) are plain functions on sympy matrices, so the tests can apply
them to any design, including the library's random ones converted to exact rationals.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp
from sympy.polys.matrices import DomainMatrix

__all__ = [
    "Derivation",
    "HADAMARD_4",
    "paper_matrix",
    "copy_fresh_grams",
    "det",
    "mi_ratio",
    "gaussian_mi",
    "level_covariance",
    "hierarchical_covariance",
    "position_digits",
    "digit_correlation",
    "hadamard_copy_gram",
    "alpha_laws",
    "conditional_variances",
    "bipartite_mi_from_stds",
    "row_conditional_covariance",
    "row_conditional_variances",
    "conditional_variances_by_recursion",
    "derive_level1_mi",
    "derive_recursion",
    "derive_two_point",
    "derive_conditional_variance_mi",
    "derive_row_recursion",
    "all_derivations",
]

HALF = sp.Rational(1, 2)

#: The 4x4 Hadamard matrix of the study's design (rows orthogonal, H H^T = 4 I).
HADAMARD_4 = sp.ImmutableMatrix(
    [[1, 1, 1, 1], [-1, 1, -1, 1], [-1, -1, 1, 1], [1, -1, -1, 1]]
)

#: Copies of the study's two families.
FAMILY_COPIES = {"subvolume": 3, "log": 1}


@dataclass
class Derivation:
    """One derivation, ready to render and to test.

    Attributes
    ----------
    key : str
        Short identifier (``"level1"``, ``"recursion"``, ...).
    title : str
        Section title.
    explanation : str
        Markdown with inline LaTeX: the argument in words.
    equations : list of (str, object)
        Displayed equations ``lhs = rhs``: ``lhs`` is LaTeX, ``rhs`` a sympy object (or a
        LaTeX string when sympy has nothing to add).
    checks : list of (str, bool)
        Exact identities sympy verified while deriving (all must be True).
    results : dict
        Named sympy objects (expressions, matrices, dicts of them) for the tests.
    """

    key: str
    title: str
    explanation: str
    equations: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    results: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- building blocks


def paper_matrix(g=None) -> sp.ImmutableMatrix:
    """The study's mixing matrix ``H_4 diag(g, g, g, r)`` with ``r = sqrt(1 - 3 g^2)``.

    Parameters
    ----------
    g : sympy expression or number, optional
        Copy-column entry; default ``sqrt(5)/4`` (then ``r = 1/4``). A symbol gives the
        one-parameter family with unit-norm rows.
    """
    g = sp.sqrt(5) / 4 if g is None else sp.sympify(g)
    r = sp.sqrt(1 - 3 * g**2)
    return sp.ImmutableMatrix(HADAMARD_4 * sp.diag(g, g, g, r))


def copy_fresh_grams(M, k):
    """``(P, Q) = (M_c M_c^T, M_f M_f^T)`` of a ``b x b`` mixing matrix with ``k`` copy columns."""
    M = sp.Matrix(M)
    Mc, Mf = M[:, :k], M[:, k:]
    return sp.expand(Mc * Mc.T), sp.expand(Mf * Mf.T)


def det(A):
    """Exact determinant (fraction-free over the matrix's own domain: QQ, QQ[x], ...)."""
    A = sp.Matrix(A)
    if A.shape == (0, 0):
        return sp.Integer(1)
    # DomainMatrix is orders of magnitude faster than Matrix.det on 64x64 rationals.
    dM = DomainMatrix.from_Matrix(A)
    if dM.domain == sp.QQ:
        # Fraction-free elimination over ZZ avoids the gcd work of QQ arithmetic (~6x faster
        # on the level-3 covariance): det(A) = det(den A) / den^n.
        den = sp.ilcm(*[sp.fraction(x)[1] for x in A], 1)
        n = A.shape[0]
        dZ = DomainMatrix.from_Matrix(A * den).convert_to(sp.ZZ)
        return sp.Rational(sp.ZZ.to_sympy(dZ.det()), den**n)
    return dM.domain.to_sympy(dM.det())


def mi_ratio(S, cut):
    """``exp(2 I) = det S_XX det S_YY / det S`` for X = positions ``< cut`` (exact)."""
    S = sp.Matrix(S)
    c = int(cut)
    ratio = det(S[:c, :c]) * det(S[c:, c:]) / det(S)
    return sp.factor(sp.cancel(ratio))


def gaussian_mi(S, cut):
    """``I(X; Y) = 1/2 ln(det S_XX det S_YY / det S)`` (nats) of a Gaussian with covariance S."""
    return HALF * sp.log(mi_ratio(S, cut))


def level_covariance(S_prev, P, Q):
    """One level of the construction: ``S_t = S_{t-1} (x) P + I (x) Q``.

    Row r of level t is ``M (c(r), f(r))`` with ``Cov(c_j(r), c_j(s)) = S_{t-1}[r, s]``
    (independent copies) and ``Cov(f(r), f(s)) = delta_rs I``, hence
    ``Cov(row r, row s) = S_{t-1}[r, s] P + delta_rs Q``: a Kronecker product, row-major.
    """
    S_prev, P, Q = sp.Matrix(S_prev), sp.Matrix(P), sp.Matrix(Q)
    n, b = S_prev.shape[0], P.shape[0]

    # Entry-wise rather than sympy.kronecker_product, which is ~10x slower at 64x64.
    def entry(x, y):
        (r, i), (s, j) = divmod(x, b), divmod(y, b)
        return S_prev[r, s] * P[i, j] + (Q[i, j] if r == s else 0)

    return sp.Matrix(n * b, n * b, entry)


def hierarchical_covariance(M, k, levels):
    """Exact ``(b^l, b^l)`` covariance of ``levels`` levels of the design (M, k) (level 0: ``[1]``)."""
    P, Q = copy_fresh_grams(M, k)
    S = sp.Matrix([[1]])
    for _ in range(int(levels)):
        S = level_covariance(S, P, Q)
    return sp.Matrix(S.applyfunc(sp.expand))


def position_digits(p, b, levels):
    """Base-b digits of position ``p``, least significant first (digit 0 = top-level column)."""
    p, out = int(p), []
    for _ in range(int(levels)):
        p, d = divmod(p, int(b))
        out.append(d)
    if p:
        raise ValueError(f"position does not fit in {levels} base-{b} digits")
    return out


def digit_correlation(p_digits, q_digits, P, S):
    """Two-point correlation by the digit product.

    ``corr = S[d_m(p), d_m(q)] prod_{i < m} P[d_i(p), d_i(q)]`` with ``m`` the most
    significant differing digit and ``S = M M^T``; 1 when the positions coincide.

    Parameters
    ----------
    p_digits, q_digits : sequences of int
        Digits, least significant first (same length).
    P, S : sympy Matrix or IndexedBase
        ``P = M_c M_c^T`` and ``S = M M^T``; IndexedBase objects give the symbolic law.
    """
    if len(p_digits) != len(q_digits):
        raise ValueError("digit lists must have the same length")
    diff = [i for i, (a, c) in enumerate(zip(p_digits, q_digits)) if a != c]
    if not diff:
        return sp.Integer(1)
    m = max(diff)
    out = S[p_digits[m], q_digits[m]]
    for i in range(m):
        out = out * P[p_digits[i], q_digits[i]]
    return out


def hadamard_copy_gram(H, k, d=None):
    """``P = H diag(d_0^2, .., d_{k-1}^2, 0, .., 0) H^T`` for ``M = H diag(d)``.

    Parameters
    ----------
    H : (b, b) sympy Matrix with +-1 entries
    k : int
        Copies.
    d : sequence of sympy expressions, optional
        Column scales; default positive symbols ``d_0 .. d_{b-1}``.
    """
    H = sp.Matrix(H)
    b = H.shape[0]
    if d is None:
        d = sp.symbols(f"d_0:{b}", positive=True)
    Dc = sp.diag(*[d[m] ** 2 if m < k else 0 for m in range(b)])
    return sp.expand(H * Dc * H.T)


#: Symbols of the alpha laws: branching, copy weight, sum of d^4, P[0, b-1].
b_sym, w_sym, sigma4_sym, anti_sym = sp.symbols(
    "b w sigma_4 \\left|P_{0\\,b-1}\\right|", positive=True
)


def alpha_laws():
    """The two-point exponents of a Hadamard design as sympy expressions.

    Returns
    -------
    dict with ``"alpha_env" = -2 log_b w``, ``"alpha_avg" = -log_b sigma_4`` and
    ``"alpha_antipodal" = -2 log_b |P[0, b-1]|`` in the symbols ``b_sym, w_sym,
    sigma4_sym, anti_sym`` (``anti_sym`` stands for ``|P[0, b-1]|``).
    """
    return {
        "alpha_env": -2 * sp.log(w_sym) / sp.log(b_sym),
        "alpha_avg": -sp.log(sigma4_sym) / sp.log(b_sym),
        "alpha_antipodal": -2 * sp.log(anti_sym) / sp.log(b_sym),
    }


def conditional_variances(S):
    """Exact ``s_p^2 = Var(W_p | W_{<p})`` (Schur complements) of a covariance S, as a list."""
    S = sp.Matrix(S)
    # The pivots of S = L D L^T are the successive Schur complements
    # s_p^2 = S_pp - S_{p,<p} S_{<p,<p}^{-1} S_{<p,p}; LDL avoids p matrix inverses.
    _, D = S.LDLdecomposition(hermitian=False)
    return [sp.cancel(D[p, p]) for p in range(S.shape[0])]


#: Indexed stds of the forward and reversed sequence, and the length/cut symbols.
s_fwd = sp.IndexedBase("s", positive=True)
s_rev = sp.IndexedBase("s^{\\mathrm{rev}}", positive=True)
p_idx = sp.Symbol("p", integer=True, nonnegative=True)
L_sym, c_sym = sp.symbols("L c", integer=True, positive=True)


def bipartite_mi_from_stds():
    """``I(c) = sum_{p<c} ln s_p + sum_{p<L-c} ln s^rev_p - sum_{p<L} ln s_p`` (sympy Sums).

    Derived from the chain rule for Gaussian entropies (see
    :func:`derive_conditional_variance_mi`). Free symbols: ``s_fwd``, ``s_rev`` (indexed),
    ``L_sym``, ``c_sym``; lambdify with ``(s_fwd, s_rev, L_sym, c_sym)``.
    """
    return _entropy_derivation()[1]


def _entropy_derivation():
    """(I as entropies, I as the simplified log-std formula)."""

    def h(x):  # differential entropy of a Gaussian with std x
        return HALF * sp.log(2 * sp.pi * sp.E * x**2)

    p = p_idx
    HX = sp.Sum(h(s_fwd[p]), (p, 0, c_sym - 1))
    HY = sp.Sum(h(s_rev[p]), (p, 0, L_sym - c_sym - 1))
    HW = sp.Sum(h(s_fwd[p]), (p, 0, L_sym - 1))
    entropies = HX + HY - HW

    def split(e):
        # ln(2 pi e s^2)/2 = ln s + ln(2 pi e)/2; the constant sums give (c + (L-c) - L)/2 = 0.
        return e.replace(
            lambda x: isinstance(x, sp.Sum),
            lambda x: sp.Sum(sp.expand_log(x.function, force=True), *x.limits).expand().doit(),
        )

    return entropies, sp.simplify(split(entropies))


def row_conditional_covariance(M, k, v):
    """``Cov(row r | rows < r) = M diag(v, .., v, 1, .., 1) M^T = v P + Q``.

    ``v`` is the one-step variance of a copy at row r (the copies are iid, so it is the
    same for all k of them); fresh noise has variance 1 and is independent of the past.
    """
    P, Q = copy_fresh_grams(M, k)
    return sp.Matrix(v * P + Q)


def row_conditional_variances(M, k, v):
    """Conditional variances within a row: the ``D`` of ``v P + Q = L D L^T`` (list of b)."""
    C = row_conditional_covariance(M, k, v)
    # Pivot i is det C_{<=i} / det C_{<i}; determinants over QQ[v] stay polynomial, which
    # is much faster than cancelling the nested fractions of a symbolic LDL.
    dets = [det(C[:i, :i]) for i in range(C.shape[0] + 1)]
    return [sp.factor(sp.cancel(dets[i + 1] / dets[i])) for i in range(C.shape[0])]


def conditional_variances_by_recursion(M, k, levels, variances=None):
    """Exact ``Var(W_p | W_{<p})`` of every position from the row recursion.

    Level 0 is one N(0, 1) value (variance 1). Position ``r b + i`` of level t has
    variance ``D_i(v_r)`` with ``v_r`` the level-(t-1) conditional variance at ``r``.

    Parameters
    ----------
    variances : list of sympy expressions in ``v``, optional
        Precomputed :func:`row_conditional_variances` with the symbol ``v``.
    """
    v = sp.Symbol("v", positive=True)
    D = variances if variances is not None else row_conditional_variances(M, k, v)
    fns = [sp.Lambda(v, d) for d in D]
    cur = [sp.Integer(1)]
    for _ in range(int(levels)):
        cur = [sp.cancel(f(vr)) for vr in cur for f in fns]
    return cur


# ---------------------------------------------------------------------------- derivations


@functools.lru_cache(maxsize=None)
def derive_level1_mi() -> Derivation:
    """(a) Level-1 bipartite MI of the study's matrix, at every cut, exact and symbolic in g."""
    M = paper_matrix()
    res = {"M": M, "S": {}, "ratio": {}, "I1": {}}
    checks = []
    for fam, k in FAMILY_COPIES.items():
        # Level 1 is M applied to b iid N(0,1): S_1 = [1] (x) P + I_1 (x) Q = P + Q = M M^T
        # whatever k is, so both families share I_1.
        S = hierarchical_covariance(M, k, 1)
        res["S"][fam] = S
        res["ratio"][fam] = {c: mi_ratio(S, c) for c in (1, 2, 3)}
        res["I1"][fam] = {c: sp.simplify(sp.expand_log(gaussian_mi(S, c), force=True))
                          for c in (1, 2, 3)}
    checks.append(("S_1 = M M^T for both families",
                   all(sp.simplify(res["S"][f] - M * M.T) == sp.zeros(4, 4) for f in FAMILY_COPIES)))
    checks.append(("I_1 identical for the sub-volume and log families",
                   all(sp.simplify(res["I1"]["subvolume"][c] - res["I1"]["log"][c]) == 0
                       for c in (1, 2, 3))))

    # Symbolic in g (r = sqrt(1 - 3 g^2)): M M^T is equicorrelated with rho = 1 - 4 g^2.
    g = sp.Symbol("g", positive=True)
    rho = sp.Symbol("rho", real=True)
    Mg = paper_matrix(g)
    Sg = sp.expand(Mg * Mg.T)
    ratio_g = {c: mi_ratio(Sg, c) for c in (1, 2, 3)}
    ratio_rho = {c: sp.factor(sp.cancel(ratio_g[c].subs(g**2, (1 - rho) / 4)))
                 for c in (1, 2, 3)}
    res.update(g=g, rho=rho, M_g=Mg, S_g=Sg, ratio_g=ratio_g, ratio_rho=ratio_rho,
               I1_g={c: HALF * sp.log(ratio_g[c]) for c in (1, 2, 3)})
    checks.append(("M M^T = (1 - rho) I + rho J with rho = 1 - 4 g^2",
                   sp.expand(Sg - (4 * g**2 * sp.eye(4) + (1 - 4 * g**2) * sp.ones(4, 4)))
                   == sp.zeros(4, 4)))
    g0 = sp.sqrt(5) / 4
    checks.append(("symbolic-g ratio at g = sqrt(5)/4 equals the exact ratio",
                   all(sp.simplify(ratio_g[c].subs(g, g0) - res["ratio"]["subvolume"][c]) == 0
                       for c in (1, 2, 3))))
    checks.append(("g = 1/2 (M M^T = I, white noise) gives I_1 = 0 at every cut",
                   all(sp.simplify(ratio_g[c].subs(g, HALF)) == 1 for c in (1, 2, 3))))

    eqs = [
        ("M", M),
        ("\\Sigma_1 = M M^{\\top}", res["S"]["subvolume"]),
    ]
    for c in (1, 2, 3):
        half_log = sp.Mul(HALF, sp.log(res["ratio"]["subvolume"][c]), evaluate=False)
        eqs.append((f"I_1(c={c}) = \\tfrac12 \\ln\\frac{{\\det \\Sigma_{{XX}} \\det \\Sigma_{{YY}}}}"
                    f"{{\\det \\Sigma}}",
                    f"{sp.latex(half_log)} = {sp.latex(res['I1']['subvolume'][c])}"))
        eqs.append((f"I_1(c={c})", sp.Float(res["I1"]["subvolume"][c].evalf(16), 16)))
    eqs.append(("M(g)", Mg))
    eqs.append(("M(g) M(g)^{\\top}", Sg))
    for c in (1, 2, 3):
        eqs.append((f"e^{{2 I_1(c={c})}}", ratio_g[c]))
    for c in (1, 2, 3):
        eqs.append((f"e^{{2 I_1(c={c})}}\\big|_{{g^2 = (1-\\rho)/4}}", ratio_rho[c]))

    text = (
        "Level 1 is $W = M\\varepsilon$ with $\\varepsilon \\sim \\mathcal N(0, I_4)$, so "
        "$W \\sim \\mathcal N(0, \\Sigma_1)$, $\\Sigma_1 = M M^{\\top}$. For a Gaussian vector split "
        "into $X = W_{<c}$ and $Y = W_{\\ge c}$, "
        "$I(X;Y) = h(X) + h(Y) - h(W) = \\tfrac12\\ln(\\det\\Sigma_{XX}\\det\\Sigma_{YY}/\\det\\Sigma)$. "
        "The study's matrix is $M = H_4\\,\\mathrm{diag}(g,g,g,r)$ with $g=\\sqrt5/4$, $r=1/4$; "
        "every entry of $M M^{\\top}$ is a sum of $\\pm g^2$ and $r^2$, so $\\Sigma_1$ is rational and "
        "all determinants are exact. The log family ($k=1$) uses the same matrix, and at level 1 "
        "the copy/fresh split is irrelevant ($\\Sigma_1 = P + Q = M M^{\\top}$), so its $I_1$ is the same. "
        "With $g$ free and $r = \\sqrt{1-3g^2}$ (unit rows), $M M^{\\top}$ is equicorrelated with "
        "$\\rho = 1 - 4g^2$; the study's $g$ gives $\\rho = -1/4$, and $g = 1/2$ is the white-noise "
        "design $M M^{\\top} = I$."
    )
    return Derivation("level1", "Level-1 mutual information of the study's matrix", text, eqs,
                      checks, res)


@functools.lru_cache(maxsize=None)
def derive_recursion(max_level: int = 3) -> Derivation:
    """(b) ``I_l = k^(l-1) I_1`` at the middle cut and ``beta = log_b k``, with exact checks."""
    k, l, b, c = sp.symbols("k l b c", positive=True)
    I1 = sp.Symbol("I_1", positive=True)
    I_l = k ** (l - 1) * I1
    L_l = b**l
    ratio_expr = sp.log(I_l.subs(l, l + 1) / I_l) / sp.log(L_l.subs(l, l + 1) / L_l)
    beta_ratio = sp.simplify(sp.expand_log(sp.powsimp(ratio_expr, force=True), force=True))
    beta_limit = sp.limit(sp.expand_log(sp.log(I_l) / sp.log(L_l), force=True), l, sp.oo)
    beta = sp.log(k) / sp.log(b)
    checks = [
        ("log(I_{l+1}/I_l) / log(L_{l+1}/L_l) = log k / log b for every l",
         sp.simplify(beta_ratio - beta) == 0),
        ("lim_{l->oo} log I_l / log L_l = log k / log b", sp.simplify(beta_limit - beta) == 0),
    ]

    # Generic check, b = 2, k = 1, M fully symbolic (any invertible M, rows not normalised):
    # the level-2 cut between the two rows has the same det ratio as level 1 at cut 1.
    m = sp.symbols("m_0:4", real=True)
    Mgen = sp.Matrix(2, 2, m)
    r1 = mi_ratio(hierarchical_covariance(Mgen, 1, 1), 1)
    r2 = mi_ratio(hierarchical_covariance(Mgen, 1, 2), 2)
    checks.append(("generic 2x2 M, k = 1: e^{2 I_2(2)} = e^{2 I_1(1)} (symbolic)",
                   sp.cancel(r2 - r1) == 0))

    # Exact rational checks on the study's matrix: R_t = e^{2 I_t} = R_1^{k^{t-1}}.
    M = paper_matrix()
    exact = {}
    for fam, kk in FAMILY_COPIES.items():
        P, Q = copy_fresh_grams(M, kk)
        S = sp.Matrix([[1]])
        rows = []
        for t in range(1, max_level + 1):
            S = level_covariance(S, P, Q)
            n = S.shape[0]
            rows.append(mi_ratio(S, n // 2))
            if t == 2:
                # any cut at a row boundary of level 2: R_2(4c) = R_1(c)^k
                for cc in (1, 2, 3):
                    checks.append((f"{fam}: e^{{2 I_2(4*{cc})}} = (e^{{2 I_1({cc})}})^{kk} (exact)",
                                   mi_ratio(S, 4 * cc) == mi_ratio(M * M.T, cc) ** kk))
        exact[fam] = rows
        for t in range(2, max_level + 1):
            checks.append((f"{fam}: e^{{2 I_{t}}} = (e^{{2 I_1}})^{{{kk}^{t - 1}}} at the middle cut (exact)",
                           rows[t - 1] == rows[0] ** (kk ** (t - 1))))

    res = dict(k=k, l=l, b=b, c=c, I1=I1, I_l=I_l, L=L_l, beta=beta, beta_ratio=beta_ratio,
               beta_limit=beta_limit, exact_ratios=exact,
               I_cut=k ** (l - 1) * sp.Function("I_1")(c))
    eqs = [
        ("I_l", I_l),
        ("L_l", L_l),
        ("I_l\\big(c\\, b^{l-1}\\big)", res["I_cut"]),
        ("\\frac{\\ln(I_{l+1}/I_l)}{\\ln(L_{l+1}/L_l)}", beta_ratio),
        ("\\lim_{l\\to\\infty}\\frac{\\ln I_l}{\\ln L_l}", beta_limit),
        ("\\beta_{\\text{sub-volume}}", beta.subs({k: 3, b: 4})),
        ("\\beta_{\\text{sub-volume}}", sp.Float(beta.subs({k: 3, b: 4}).evalf(16), 16)),
        ("\\beta_{\\text{log}}", beta.subs({k: 1, b: 4})),
    ]
    for fam in FAMILY_COPIES:
        for t, R in enumerate(exact[fam], 1):
            eqs.append((f"e^{{2 I_{t}}}\\ (\\text{{{fam}, middle cut}})", R))
    text = (
        "Cut level $t$ at a row boundary, $c\\,b$ positions in $X$ (rows $< c$). Row $r$ is "
        "$M\\,(c_1(r),\\dots,c_k(r), f_1(r),\\dots,f_{b-k}(r))$ and $M$ is invertible, so the "
        "rows $< c$ are a bijective function of $\\{c_j(r)\\}_{r<c,\\,j\\le k}$ and the fresh "
        "noise of rows $< c$, and likewise for rows $\\ge c$. Mutual information is invariant "
        "under bijections of each side, so $I_t(cb) = I\\big(\\{c_j(<c)\\}, f(<c);\\ \\{c_j(\\ge c)\\}, "
        "f(\\ge c)\\big)$. The fresh noise is independent of everything and drops out; the $k$ "
        "copies are independent of each other, so the MI is additive over them: "
        "$I_t(cb) = k\\, I_{t-1}(c)$. The middle cut $L_t/2 = (b/2)\\,b^{t-1}$ (even $b$) is a row "
        "boundary at every level above 1, hence $I_l = k^{l-1} I_1$ with $I_1 = I_1(b/2)$, and "
        "more generally $I_l(c\\,b^{l-1}) = k^{l-1} I_1(c)$ for $c = 1..b-1$. With $L_l = b^l$ the "
        "exponent is exact at every $l$, not only as a limit: $\\beta = \\log_b k$, whatever the "
        "(invertible) mixing matrix. For $k=1$ (log family without coupling) $I_l = I_1$ is "
        "constant. The exact checks below evaluate the determinants of the full covariance "
        "(up to $64 \\times 64$, exact rationals) and a fully symbolic $2\\times2$ design."
    )
    return Derivation("recursion", "Bipartite recursion and the exponent beta", text, eqs,
                      checks, res)


@functools.lru_cache(maxsize=None)
def derive_two_point() -> Derivation:
    """(c) Digit-product two-point correlation, the Hadamard identities and the alpha laws."""
    checks = []
    res = {}

    # Row covariance of the construction, generic 3x3 M with k = 2.
    mm = sp.Matrix(3, 3, sp.symbols("m_0:9", real=True))
    x, y = sp.symbols("x y", real=True)
    P3, Q3 = copy_fresh_grams(mm, 2)
    checks.append(("M diag(x, x, y) M^T = x P + y Q (generic 3x3 M, k = 2)",
                   sp.expand(mm * sp.diag(x, x, y) * mm.T - (x * P3 + y * Q3)) == sp.zeros(3, 3)))

    # Unrolling S_t = S_{t-1} (x) P + I (x) Q gives the digit product: verify on symbolic
    # P, Q (unit variance imposed through Q_ii = 1 - P_ii) for (b, l) = (2, 3) and (3, 2).
    for b, levels in ((2, 3), (3, 2)):
        Pn = sp.Matrix(b, b, lambda i, j: sp.Symbol(f"p_{min(i, j)}{max(i, j)}"))
        Qn = sp.Matrix(b, b, lambda i, j: 1 - Pn[i, i] if i == j else sp.Symbol(f"q_{min(i, j)}{max(i, j)}"))
        S = sp.Matrix([[1]])
        for _ in range(levels):
            S = level_covariance(S, Pn, Qn)
        Sn = Pn + Qn
        L = b**levels
        ok = all(
            sp.expand(S[p, q] - digit_correlation(position_digits(p, b, levels),
                                                  position_digits(q, b, levels), Pn, Sn)) == 0
            for p in range(L) for q in range(L)
        )
        checks.append((f"digit product = Kronecker covariance for all pairs, symbolic P, Q, "
                       f"b={b}, l={levels}", ok))

    Pi = sp.IndexedBase("P")
    Si = sp.IndexedBase("S")
    examples = {
        ((0, 0, 0), (3, 3, 3)): digit_correlation((0, 0, 0), (3, 3, 3), Pi, Si),
        ((1, 2, 0), (3, 2, 1)): digit_correlation((1, 2, 0), (3, 2, 1), Pi, Si),
        ((1, 2, 0), (3, 0, 0)): digit_correlation((1, 2, 0), (3, 0, 0), Pi, Si),
    }
    res["examples"] = examples
    res["P_symbol"], res["S_symbol"] = Pi, Si

    # Hadamard designs M = H diag(d): P_ii = w, ||P||_F^2 / b^2 = sum_copies d^4.
    H2 = sp.Matrix([[1, 1], [1, -1]])
    res["hadamard_P"] = {}
    for H in (H2, sp.Matrix(HADAMARD_4)):
        bb = H.shape[0]
        d = sp.symbols(f"d_0:{bb}", positive=True)
        for kk in range(1, bb):
            P = hadamard_copy_gram(H, kk, d)
            w = sum(d[m] ** 2 for m in range(kk))
            s4 = sum(d[m] ** 4 for m in range(kk))
            res["hadamard_P"][(bb, kk)] = P
            checks.append((f"b={bb}, k={kk}: P_ii = w for every i",
                           all(sp.expand(P[i, i] - w) == 0 for i in range(bb))))
            # w -+ P_ij = sum_m (1 -+ H_im H_jm) d_m^2 has non-negative coefficients in d^2.
            checks.append((f"b={bb}, k={kk}: |P_ij| <= w (w -+ P_ij is a non-negative combination of d_m^2)",
                           all(all(cf >= 0 for cf in sp.Poly(w + sgn * P[i, j], *d).coeffs())
                               for i in range(bb) for j in range(bb) for sgn in (1, -1))))
            checks.append((f"b={bb}, k={kk}: (1/b^2) sum_ij P_ij^2 = sum_copies d_m^4",
                           sp.expand(sum(P[i, j] ** 2 for i in range(bb) for j in range(bb)) / bb**2
                                     - s4) == 0))

    # The alpha laws from the scaling of rho^2 with the distance d ~ b^m.
    m, l = sp.symbols("m l", positive=True)
    smax, s2bar, s0 = sp.symbols("S_{\\max} \\overline{S^2} S_{0\\,b-1}", positive=True)
    laws = alpha_laws()
    env_rho2 = smax**2 * w_sym ** (2 * m)
    avg_rho2 = s2bar * sigma4_sym**m
    anti_rho2 = s0**2 * anti_sym ** (2 * (l - 1))

    def exponent(rho2, var, dist):
        # alpha = -lim log(MI)/log(distance) with MI ~ rho^2 / 2
        expr = sp.expand_log(sp.log(rho2 / 2), force=True) / sp.expand_log(sp.log(dist), force=True)
        return sp.simplify(-sp.limit(expr, var, sp.oo))

    derived = {
        "alpha_env": exponent(env_rho2, m, b_sym**m),
        "alpha_avg": exponent(avg_rho2, m, b_sym**m),
        "alpha_antipodal": exponent(anti_rho2, l, b_sym**l),
    }
    for name in laws:
        checks.append((f"{name}: limit of the scaling law equals the closed form",
                       sp.simplify(derived[name] - laws[name]) == 0))
    rho = sp.Symbol("rho", real=True)
    mi_series = sp.series(-HALF * sp.log(1 - rho**2), rho, 0, 6)
    res.update(laws=laws, derived=derived, mi_series=mi_series, rho=rho,
               env_rho2=env_rho2, avg_rho2=avg_rho2, anti_rho2=anti_rho2,
               S_max=smax, S2_bar=s2bar, S_anti=s0)

    # Study's families.
    Mp = paper_matrix()
    paper = {}
    for fam, kk in FAMILY_COPIES.items():
        P, Q = copy_fresh_grams(Mp, kk)
        S = P + Q
        d = [Mp[0, m] for m in range(4)]  # M = H_4 diag(d) and row 0 of H_4 is all ones
        subs = {b_sym: 4, w_sym: sum(d[m] ** 2 for m in range(kk)),
                sigma4_sym: sum(d[m] ** 4 for m in range(kk)), anti_sym: abs(P[0, 3])}
        checks.append((f"{fam}: (1/16) ||P||_F^2 = sum_copies d_m^4 and P_00 = w",
                       sp.simplify(sum(P[i, j] ** 2 for i in range(4) for j in range(4)) / 16
                                   - subs[sigma4_sym]) == 0 and sp.simplify(P[0, 0] - subs[w_sym]) == 0))
        paper[fam] = dict(
            P=P, S=S, subs=subs,
            alphas={n: sp.simplify(e.subs(subs)) for n, e in laws.items()},
            antipodal_corr=S[0, 3] * P[0, 3] ** (l - 1),
        )
    checks.append(("first-versus-last correlation has the same magnitude in both families at every l",
                   sp.simplify(sp.Abs(paper["subvolume"]["antipodal_corr"])
                               - sp.Abs(paper["log"]["antipodal_corr"])) == 0))
    res["paper"] = paper
    res["m"], res["l"] = m, l

    eqs = [
        ("\\operatorname{Cov}(\\text{row } r, \\text{row } s)",
         sp.Symbol("\\Sigma_{t-1}[r,s]") * sp.Symbol("P") + sp.Symbol("\\delta_{rs}") * sp.Symbol("Q")),
        ("\\Sigma_t", "\\Sigma_{t-1} \\otimes P + I \\otimes Q"),
        ("\\rho(p, q)", "S_{d_m(p)\\, d_m(q)} \\prod_{i<m} P_{d_i(p)\\, d_i(q)},\\quad "
                        "m = \\max\\{i : d_i(p) \\ne d_i(q)\\},\\ S = M M^{\\top}"),
    ]
    for (pd, qd), e in examples.items():
        eqs.append((f"\\rho\\big(d(p) = {pd},\\ d(q) = {qd}\\big)", e))
    eqs.append(("P\\ (b=4,\\ k=3,\\ M = H_4 \\operatorname{diag}(d))", res["hadamard_P"][(4, 3)]))
    eqs.append(("P\\ (b=4,\\ k=1)", res["hadamard_P"][(4, 1)]))
    eqs.append(("\\tfrac{1}{b^2}\\lVert P\\rVert_F^2",
                "\\tfrac{1}{b^2}\\operatorname{tr}(H D_c H^{\\top} H D_c H^{\\top}) "
                "= \\tfrac{1}{b}\\operatorname{tr}(H D_c^2 H^{\\top}) = \\operatorname{tr} D_c^2 "
                "= \\sum_{m<k} d_m^4"))
    eqs.append(("-\\tfrac12\\ln(1-\\rho^2)", mi_series))
    eqs.append(("\\max \\rho^2\\ (\\text{digit } m)", env_rho2))
    eqs.append(("\\overline{\\rho^2}\\ (\\text{digit } m)", avg_rho2))
    eqs.append(("\\rho^2(0, L-1)", anti_rho2))
    for name, e in laws.items():
        eqs.append((f"\\alpha_{{\\text{{{name[6:]}}}}}", e))
    for fam in FAMILY_COPIES:
        eqs.append((f"\\rho(0, L-1)\\ (\\text{{{fam}}})", paper[fam]["antipodal_corr"]))
        for name, e in paper[fam]["alphas"].items():
            eqs.append((f"\\alpha_{{\\text{{{name[6:]}}}}}\\ (\\text{{{fam}}})", e))
            eqs.append((f"\\alpha_{{\\text{{{name[6:]}}}}}\\ (\\text{{{fam}}})",
                        sp.Float(e.evalf(16), 16)))

    text = (
        "Row $r$ of level $t$ is $M(c(r), f(r))$ with independent copies, "
        "$\\operatorname{Cov}(c_j(r), c_j(s)) = \\Sigma_{t-1}[r,s]$, and fresh noise "
        "$\\operatorname{Cov}(f(r), f(s)) = \\delta_{rs} I$; so $\\operatorname{Cov}(\\text{row } r, "
        "\\text{row } s) = \\Sigma_{t-1}[r,s]\\,P + \\delta_{rs} Q$, i.e. "
        "$\\Sigma_t = \\Sigma_{t-1}\\otimes P + I\\otimes Q$. Write $p = r b + i$ (digit 0 is the "
        "column $i$ at the top level). Unrolling: while the rows differ, each level contributes "
        "the factor $P_{d_i(p) d_i(q)}$ and passes to the parents; at the first level where the "
        "two positions share a row (the most significant differing digit $m$) the factor is "
        "$\\Sigma_{t-1}[r,r] P + Q = P + Q = S$ (unit variances), and the digits above $m$ are "
        "equal and contribute 1.\n\n"
        "For a Hadamard design $M = H_b\\operatorname{diag}(d)$, $\\sum_m d_m^2 = 1$, "
        "$P = H D_c H^{\\top}$ with $D_c = \\operatorname{diag}(d_0^2..d_{k-1}^2, 0..0)$: "
        "$P_{ii} = \\sum_{m<k} d_m^2 = w$, and $|P_{ij}| \\le w$ (triangle inequality), so $w$ is "
        "the largest factor. Pairs whose most significant differing digit is $m$ are at distance "
        "$\\sim b^m$. **Envelope:** equal lower digits give $|\\rho| = |S_{ij}|\\,w^m$, so "
        "$\\rho^2 \\propto d^{2\\log_b w}$. **Average:** over the pairs of one digit $m$ the lower "
        "digits are uniform and independent, so $\\overline{\\rho^2} = \\overline{S^2}\\,"
        "\\big(b^{-2}\\sum_{ij}P_{ij}^2\\big)^m$ and $b^{-2}\\lVert P\\rVert_F^2 = \\sum_{m<k} d_m^4$ "
        "when $H$ has orthogonal columns. **Antipodal:** positions $0$ and $L-1$ have all "
        "digits $0$ and $b-1$: $\\rho = S_{0\\,b-1}P_{0\\,b-1}^{\\,l-1}$ at distance $\\approx b^l$. "
        "Since the two-point MI is $-\\tfrac12\\ln(1-\\rho^2) = \\rho^2/2 + O(\\rho^4)$, the MI "
        "exponents are the $\\rho^2$ exponents. The two-point decay is set by the copy weights "
        "alone, independently of $\\beta$; the MI against $d$ is log-periodic (the digit "
        "structure), so each $\\alpha$ is a stated average or envelope. The first-versus-last "
        "pair of the two study families has the same magnitude at every $L$, while their "
        "bipartite MI differs completely."
    )
    return Derivation("two_point", "Two-point correlation and the alpha laws", text, eqs,
                      checks, res)


@functools.lru_cache(maxsize=None)
def derive_conditional_variance_mi() -> Derivation:
    """(d) ``I(c)`` from forward and reversed conditional stds, checked on symbolic covariances."""
    entropies, formula = _entropy_derivation()
    checks = []

    def formula_ratio(S, c):
        # exp(2 I) from the formula, with s_p^2 and s^rev_p^2 as exact Schur complements
        n = S.shape[0]
        fwd = conditional_variances(S)
        rev = conditional_variances(sp.Matrix(n, n, lambda i, j: S[n - 1 - i, n - 1 - j]))
        return sp.prod(fwd[:c]) * sp.prod(rev[: n - c]) / sp.prod(fwd)

    a, b, c, x, y, z = sp.symbols("a b c x y z", real=True)
    Sgen = sp.Matrix([[a, x, y], [x, b, z], [y, z, c]])
    for cut in (1, 2):
        checks.append((f"generic symmetric 3x3, cut {cut}: formula = 1/2 ln(det S_XX det S_YY / det S)",
                       sp.cancel(formula_ratio(Sgen, cut)
                                 - det(Sgen[:cut, :cut]) * det(Sgen[cut:, cut:]) / det(Sgen)) == 0))
    sv = conditional_variances(Sgen)
    checks.append(("generic 3x3: prod_{p<c} s_p^2 = det S_{<c,<c} (telescoping Schur complements)",
                   all(sp.cancel(sp.prod(sv[:cc]) - det(Sgen[:cc, :cc])) == 0 for cc in (1, 2, 3))))
    S4 = sp.Matrix(derive_level1_mi().results["S"]["subvolume"])
    for cut in (1, 2, 3):
        checks.append((f"study's 4x4 Sigma_1, cut {cut}: formula = det ratio (exact rationals)",
                       sp.simplify(formula_ratio(S4, cut) - mi_ratio(S4, cut)) == 0))

    # Equivalence with the library's form sum_{q >= c} [ln sd(W_q | W_{>q}) - ln sd(W_q | W_{<q})]:
    # s^rev_p is the std of W_{L-1-p} given W_{>L-1-p}.
    u = sp.IndexedBase("u", positive=True)
    q = sp.Symbol("q", integer=True, nonnegative=True)
    Lc = 6
    ok = True
    for cut in range(1, Lc):
        lib_form = sp.Sum(sp.log(u[q]) - sp.log(s_fwd[q]), (q, cut, Lc - 1)).doit()
        ours = formula.subs({L_sym: Lc, c_sym: cut}).doit()
        ours = ours.replace(lambda e: isinstance(e, sp.Indexed) and e.base == s_rev,
                            lambda e: u[Lc - 1 - e.indices[0]])
        ok = ok and sp.expand(sp.expand_log(ours - lib_form, force=True)) == 0
    checks.append(("L = 6, all cuts: formula = sum_{q>=c} [ln s^rev_{L-1-q} - ln s_q] "
                   "(the library's form)", ok))

    res = dict(entropies=entropies, formula=formula, s=s_fwd, s_rev=s_rev, L=L_sym, c=c_sym, p=p_idx)
    eqs = [
        ("h(W)", sp.Sum(HALF * sp.log(2 * sp.pi * sp.E * s_fwd[p_idx] ** 2), (p_idx, 0, L_sym - 1))),
        ("I(c) = h(X) + h(Y) - h(W)", entropies),
        ("I(c)", formula),
        ("s_p^2", "\\Sigma_{pp} - \\Sigma_{p,<p}\\Sigma_{<p,<p}^{-1}\\Sigma_{<p,p} = "
                  "\\det\\Sigma_{\\le p}/\\det\\Sigma_{<p}"),
        ("s_p^2\\ (\\text{generic } 3\\times 3,\\ p = 0, 1, 2)", sp.Matrix([sv])),
    ]
    text = (
        "Chain rule: $h(W) = \\sum_p h(W_p \\mid W_{<p})$ and, for a Gaussian, "
        "$h(W_p\\mid W_{<p}) = \\tfrac12\\ln(2\\pi e\\, s_p^2)$ with $s_p$ the conditional std. "
        "$X = W_{<c}$ uses the first $c$ forward terms; $Y = W_{\\ge c}$ read backwards is the "
        "first $L-c$ positions of the reversed sequence, so $h(Y) = \\sum_{p<L-c}\\tfrac12\\ln(2\\pi "
        "e\\,(s^{\\mathrm{rev}}_p)^2)$. In $I = h(X) + h(Y) - h(W)$ the constants cancel "
        "($c + (L-c) - L = 0$), leaving a sum of log-stds. Each $s_p^2$ is a Schur complement, "
        "$\\det\\Sigma_{\\le p}/\\det\\Sigma_{<p}$, so the partial products telescope to "
        "$\\det\\Sigma_{XX}$ (and $\\det\\Sigma_{YY}$, $\\det\\Sigma$), recovering the log-det "
        "formula. The stds do not depend on the sample, and the hierarchical design gives them "
        "in $O(L b^2)$ (next section), hence $I$ at every cut in $O(L)$."
    )
    return Derivation("conditional_mi", "Bipartite MI at any cut from conditional variances",
                      text, eqs, checks, res)


@functools.lru_cache(maxsize=None)
def derive_row_recursion() -> Derivation:
    """(e) ``Cov(row | past) = M diag(v..v, 1..1) M^T = v P + Q`` and its in-row variances."""
    v = sp.Symbol("v", positive=True)
    checks = []
    mm = sp.Matrix(3, 3, sp.symbols("m_0:9", real=True))
    checks.append(("generic 3x3 M, k = 2: M diag(v, v, 1) M^T = v P + Q",
                   sp.expand(mm * sp.diag(v, v, 1) * mm.T - row_conditional_covariance(mm, 2, v))
                   == sp.zeros(3, 3)))
    M = paper_matrix()
    res = {"v": v, "C": {}, "D": {}, "variances": {}}
    for fam, k in FAMILY_COPIES.items():
        res["C"][fam] = row_conditional_covariance(M, k, v)
        D = row_conditional_variances(M, k, v)
        res["D"][fam] = D
        var = {t: conditional_variances_by_recursion(M, k, t, D) for t in (1, 2)}
        res["variances"][fam] = var
        S2 = hierarchical_covariance(M, k, 2)
        checks.append((f"{fam}: level-2 variances from the recursion = Schur complements of Sigma_2 (exact)",
                       all(sp.simplify(a - b) == 0 for a, b in zip(var[2], conditional_variances(S2)))))
        checks.append((f"{fam}: D_i(1) are the level-1 conditional variances of M M^T",
                       [sp.simplify(d.subs(v, 1)) for d in D] == conditional_variances(M * M.T)))
    eqs = [
        ("\\operatorname{Cov}(\\text{row } r \\mid \\text{rows} < r)",
         "M \\operatorname{diag}(v_r, \\dots, v_r, 1, \\dots, 1) M^{\\top} = v_r P + Q"),
        ("s^2_t(r b + i)", "D_i\\big(v_r\\big),\\quad v_r = s^2_{t-1}(r),\\quad "
                           "v_r P + Q = L D L^{\\top},\\quad s^2_0(0) = 1"),
    ]
    for fam in FAMILY_COPIES:
        eqs.append((f"v P + Q\\ (\\text{{{fam}}})", res["C"][fam]))
        eqs.append((f"(D_0, \\dots, D_3)(v)\\ (\\text{{{fam}}})", sp.Matrix([res["D"][fam]])))
        eqs.append((f"s^2_2(0..15)\\ (\\text{{{fam}}})", sp.Matrix(4, 4, res["variances"][fam][2])))
    text = (
        "Because each row map is a bijection, the rows $< r$ of level $t$ carry exactly the "
        "information of the copies' values at positions $< r$ and the fresh noise of rows "
        "$< r$. Given that past, the $k$ copies at position $r$ are independent Gaussians with "
        "the same one-step variance $v_r = s^2_{t-1}(r)$ (the copies are iid), and the fresh "
        "noise is independent with variance 1. So the row is Gaussian given the past with "
        "covariance $M\\operatorname{diag}(v_r,..,v_r,1,..,1)M^{\\top} = v_r P + Q$, and the "
        "conditional variances of its entries one after another are the pivots $D_i$ of "
        "its $LDL^{\\top}$ factorisation. Level 0 has $v = 1$, so level 1 has the pivots of "
        "$M M^{\\top}$. The stds are data independent and cost $O(b^2)$ per position: $O(L b^2)$ "
        "in all. The conditional *means* need the data (message passing) and are not derived here."
    )
    return Derivation("row_recursion", "Row recursion for the conditional variances", text, eqs,
                      checks, res)


def all_derivations():
    """All derivations in document order."""
    return [
        derive_level1_mi(),
        derive_recursion(),
        derive_two_point(),
        derive_conditional_variance_mi(),
        derive_row_recursion(),
    ]
