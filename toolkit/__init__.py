"""Interpretability helpers importable in every sandbox kernel (`import toolkit`).

The local backend puts this package on each kernel's path; its functions
(activations, steering, generation, logit lens, ...) arrive with the models
and toolkit capability.
"""
