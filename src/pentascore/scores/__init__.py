"""Scores: applying a model to everyone's features as of a date, and the score history."""
