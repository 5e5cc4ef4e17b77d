"""Explanations: reason codes, what-if rescoring and the improvement plan."""
