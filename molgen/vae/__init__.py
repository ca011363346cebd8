"""Grammar VAE and character VAE: one model family over production rules or SMILES tokens."""
