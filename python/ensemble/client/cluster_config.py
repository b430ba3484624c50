"""Where a Cluster's settings come from, as in ipyparallel: the profile's
``ipcluster_config.py``/``.json`` (``c.Cluster.n = 4``), then a ``config=`` object, then the
keyword arguments, each overriding the one before."""

import logging
import os
import sys

# what Cluster takes from a config's ``Cluster`` section; the rest of it (ipyparallel's own
# traits) means nothing to Ensemble and is left alone
SETTINGS = ("n", "controller_ip", "engine_timeout", "controller_args", "engine_args",
            "shutdown_atexit", "cluster_id", "log_level", "engine_launcher_class",
            "controller_launcher_class", "nice")


def profile_config(profile_dir):
    """The profile's ipcluster config as a traitlets Config, or None without one."""
    return load_config_files(profile_dir, "ipcluster_config")


def load_config_files(profile_dir, stem):
    """The profile's ``STEM.py`` and ``STEM.json`` as one traitlets Config, or None without
    either. traitlets is imported only when a file exists (it costs every ``import ensemble``
    user ~20 ms)."""
    names = [name for name in (stem + ".py", stem + ".json")
             if os.path.isfile(os.path.join(profile_dir, name))]
    if not names:
        return None
    from traitlets.config.loader import Config, JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    for name in names:  # .json after .py, so the JSON file wins, as traitlets orders them
        loader_class = PyFileConfigLoader if name.endswith(".py") else JSONFileConfigLoader
        try:
            merged.merge(loader_class(name, path=profile_dir).load_config())
        except Exception as exc:  # a user's file with an error must not stop the cluster
            logging.getLogger(__name__).warning("ignoring %s: %s",
                                                os.path.join(profile_dir, name), exc)
    return merged


def _cluster_section(config):
    if config is None:
        return {}
    try:
        section = config["Cluster"] if "Cluster" in config else {}
    except TypeError:
        return {}
    return {key: section[key] for key in SETTINGS if key in section}


def cluster_settings(profile_dir, config, explicit, load_profile=True):
    """The settings a Cluster runs with: ``explicit`` (keyword arguments given, not None)
    over ``config``'s Cluster section over the profile's files."""
    settings = _cluster_section(profile_config(profile_dir)) if load_profile else {}
    settings.update(_cluster_section(config))
    settings.update({key: value for key, value in explicit.items() if value is not None})
    return settings


def default_log(parent, name):
    """ipyparallel's choice: in an IPython session (``parent=get_ipython()``) a logger of
    our own writing to stdout, else the parent's log, else a logger of our own."""
    ipython = sys.modules.get("IPython")
    if parent is not None and ipython is not None and parent is ipython.get_ipython():
        log = logging.getLogger(name)
        log.handlers = [logging.StreamHandler(sys.stdout)]
        return log
    if parent is not None and getattr(parent, "log", None) is not None:
        return parent.log
    return logging.getLogger(name)
