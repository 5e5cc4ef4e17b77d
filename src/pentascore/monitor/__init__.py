"""Monitoring: drift of the score and the features, band migration, the discrimination of
matured vintages, and fairness by protected attributes the model does not use.

``drift``, ``vintages`` and ``fairness`` are pure functions over arrays; ``collect`` reads a
home (score history, feature snapshots, lake, demographics) and ``report`` renders an offline
HTML report with SVG charts drawn on the server (``charts``). See docs/monitoring.md.
"""
