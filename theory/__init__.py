"""Symbolic derivations (sympy) of the closed forms that ``l2m_sim`` implements numerically.

``theory.hierarchical`` derives the hierarchical Gaussian family's results (and the other
modules those of their families); ``python -m theory.render`` writes them to Markdown with
LaTeX. The library never imports this package: ``tests/test_theory.py`` evaluates these sympy results at random
parameters and compares them with the library's numbers.
"""
