"""ORGAN (Guimaraes et al. 2017) on SeqGAN: LSTM generator, CNN discriminator, Monte-Carlo rollouts,
REINFORCE on R = lambda * D + (1 - lambda) * objectives. See :mod:`molgen.organ.trainer`."""
