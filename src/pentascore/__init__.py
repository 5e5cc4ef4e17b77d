"""pentascore: behavioral credit scoring over five dimensions, 350-950."""

__version__ = "0.1.0"

__all__ = ["__version__"]
