"""Library side of the Streamlit dashboard (``apps/``): pure, cache-friendly functions, split by role.

- :mod:`~molgen.dashboard.models`: shipped and user checkpoints, loading, summaries, generation
- :mod:`~molgen.dashboard.inputs`: pasted SMILES, uploads, shipped data files, why SMILES fail,
  standardisation and structure flags (salts, mixtures, inorganics)
- :mod:`~molgen.dashboard.tables`: molecule tables, property sheet, sort, pages, filters, downloads
  (through :class:`molgen.data.TableWriter`, the writer of ``molgen sample``)
- :mod:`~molgen.dashboard.charts`: property histograms against the training set, curve charts
- :mod:`~molgen.dashboard.latent`: latent-space neighbours and interpolation tables
- :mod:`~molgen.dashboard.runs`: run directories, logs, curve groups, report comparison
- :mod:`~molgen.dashboard.depict`: SVG depictions and HTML molecule grids
- :mod:`~molgen.dashboard.diversity`: Murcko scaffold groups and MaxMin diversity picking
- :mod:`~molgen.dashboard.novelty`: in-training-set flags and nearest-training-neighbour similarity

The pages only lay out widgets; everything that reads files, loads models, computes, filters
or serialises lives here so it can be unit-tested without Streamlit. Every failure a user can
cause (bad SMILES, unreadable upload, wrong checkpoint, bad filter expression) is raised as a
:class:`~molgen.errors.MolgenError` with a message fit to show as is.

What the dashboard reads: shipped models (``data/models``), shipped data (``data/moses``), and
user-given run directories / ``*.pt`` checkpoints (validated here; checkpoints are loaded with
``weights_only=True``). Uploads are parsed in memory and never written to disk. Only the
dashboard (``apps/`` and ``molgen dashboard``) imports this package.
"""
