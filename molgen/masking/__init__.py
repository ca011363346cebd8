"""Masks for constrained decoding: the context-free stack machine, the character machine, and the
semantic machine (rings, valence, length) that makes every decoded derivation a valid molecule."""
