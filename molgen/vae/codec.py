"""The VAE family's codecs, which live in :mod:`molgen.masking.codec` (shared with the ORGAN
generator over rules); re-exported here so ``molgen.vae.codec`` keeps working."""

from molgen.masking.codec import CONSTRAINTS, Codec, EncodedSet, GrammarCodec, TokenCodec, codec_from_checkpoint

__all__ = ["CONSTRAINTS", "Codec", "EncodedSet", "GrammarCodec", "TokenCodec", "codec_from_checkpoint"]
