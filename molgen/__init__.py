"""molgen: molecule generation with Grammar VAE, character VAE and ORGAN, on RDKit."""

__version__ = "0.1.0"
