"""The client side of the parallel API (``import ensemble as ipp``).

One module per job: ``client`` (connection and bookkeeping), ``events`` (the
thread that receives replies and outputs), ``view``/``lbview`` (where work
runs), ``asyncresult``, ``remotefunction``, ``map`` (partitioning),
``dependency``, ``magics``, ``cluster``, ``files`` (profile and cluster files).
"""
