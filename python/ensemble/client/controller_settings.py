"""The controller settings an ipyparallel user gives, as ``ensemble cluster start`` options.

ipyparallel's controller takes its scheduler's scheme and high-water mark, its address, its
heartbeat period and its database from, in rising priority: the profile's
``ipcontroller_config.py``/``.json``, a ``config=`` object's sections, and the Cluster's
``controller_args`` (``--scheme=lru``, ``--TaskScheduler.hwm=1``, ``--nodb``, ...). The same
settings here become the options of Ensemble's controller; any other is reported and left
alone, as Ensemble's controller has no such setting.
"""

from .cluster_config import load_config_files

# ipyparallel's trait -> (our option, how its value is written)
_TRAITS = {
    "TaskScheduler.scheme_name": ("--scheme", str),
    "TaskScheduler.hwm": ("--hwm", lambda v: str(int(v))),
    "IPController.ip": ("--ip", lambda v: "0.0.0.0" if v == "*" else str(v)),  # ipyparallel's "every interface"
    "HeartMonitor.period": ("--heartbeat-period", lambda v: str(int(v))),  # ms, in both
}
# ipcontroller's short names for them
_ALIASES = {"scheme": "TaskScheduler.scheme_name", "hwm": "TaskScheduler.hwm", "ip": "IPController.ip",
            "ping": "HeartMonitor.period"}
# ipcontroller's database flags: the ones that keep nothing on disk keep it in memory here
_DB_FLAGS = {"nodb": "memory", "dictdb": "memory", "sqlitedb": None}
_DB_CLASSES = {"NoDB": "memory", "DictDB": "memory", "SQLiteDB": None}


def _from_config(config, settings):
    """What a traitlets Config's sections set."""
    if config is None:
        return
    for trait in _TRAITS:
        section, name = trait.split(".")
        try:
            if section in config and name in config[section]:
                settings[trait] = config[section][name]
        except TypeError:  # not a Config
            return
    try:
        db_class = config["IPController"]["db_class"] if "IPController" in config else None
    except (KeyError, TypeError):
        db_class = None
    if isinstance(db_class, str):
        settings["db"] = _DB_CLASSES.get(db_class.rsplit(".", 1)[-1])


def _from_args(args, settings, log):
    """What ipcontroller's command-line arguments set; the others are reported."""
    args = list(args)
    while args:
        arg = args.pop(0)
        name, has_value, value = arg.lstrip("-").partition("=")
        if arg.startswith("--") and name in _DB_FLAGS and not has_value:
            settings["db"] = _DB_FLAGS[name]
            continue
        trait = _ALIASES.get(name, name)
        if not arg.startswith("--") or trait not in _TRAITS:
            log.warning("controller_args: %r means nothing to Ensemble's controller; ignored", arg)
            continue
        if not has_value:
            if not args:
                log.warning("controller_args: %r has no value; ignored", arg)
                continue
            value = args.pop(0)
        settings[trait] = value


def controller_options(profile_dir, config, controller_args, log, load_profile=True):
    """``ensemble cluster start`` options for the settings above, each once, the last source
    winning; the address given as the Cluster's ``controller_ip`` is not among them."""
    settings = {}
    if load_profile:
        _from_config(load_config_files(profile_dir, "ipcontroller_config"), settings)
    _from_config(config, settings)
    _from_args(controller_args or (), settings, log)
    options = []
    for trait, (option, written) in _TRAITS.items():
        if settings.get(trait) not in (None, ""):  # "": the default, in a config file
            try:
                options += [option, written(settings[trait])]
            except (TypeError, ValueError):
                log.warning("%s=%r is not a valid value; ignored", trait, settings[trait])
    if settings.get("db"):
        options += ["--db", settings["db"]]
    return options


__all__ = ["controller_options"]
