"""The controller settings an ipyparallel user gives (the profile's ipcontroller_config,
a config object, controller_args) as ``ensemble cluster start`` options."""

import logging

from traitlets.config import Config

from ensemble.client.controller_settings import controller_options

log = logging.getLogger("test")


def test_controller_args_in_ipcontrollers_spellings_become_our_options(tmp_path):
    options = controller_options(str(tmp_path), None, ["--scheme=lru", "--hwm", "1", "--ping=500",
                                                       "--ip=0.0.0.0", "--nodb"], log)
    assert options == ["--scheme", "lru", "--hwm", "1", "--ip", "0.0.0.0", "--heartbeat-period", "500",
                       "--db", "memory"]
    assert controller_options(str(tmp_path), None, ["--TaskScheduler.scheme_name=twobin",
                                                    "--TaskScheduler.hwm=4", "--sqlitedb"], log) == \
        ["--scheme", "twobin", "--hwm", "4"]


def test_the_profile_then_a_config_then_controller_args_each_win_over_the_one_before(tmp_path):
    (tmp_path / "ipcontroller_config.py").write_text(
        "c = get_config()\nc.TaskScheduler.scheme_name = 'weighted'\nc.TaskScheduler.hwm = 2\n"
        "c.HeartMonitor.period = 2000\nc.IPController.db_class = 'NoDB'\n")
    assert controller_options(str(tmp_path), None, [], log) == \
        ["--scheme", "weighted", "--hwm", "2", "--heartbeat-period", "2000", "--db", "memory"]
    config = Config()
    config.TaskScheduler.hwm = 3
    config.IPController.db_class = "ipyparallel.controller.sqlitedb.SQLiteDB"
    assert controller_options(str(tmp_path), config, ["--scheme=lru"], log) == \
        ["--scheme", "lru", "--hwm", "3", "--heartbeat-period", "2000"]
    assert controller_options(str(tmp_path), None, [], log, load_profile=False) == []
    assert controller_options(str(tmp_path), None, ["--ip=*"], log, load_profile=False) == ["--ip", "0.0.0.0"]
    assert controller_options(str(tmp_path), None, ["--ip="], log, load_profile=False) == []


def test_settings_ensembles_controller_lacks_are_reported_and_left_out(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        options = controller_options(str(tmp_path), None, ["--usethreads", "--port=1234", "lru",
                                                           "--hwm=many", "--scheme"], log)
    assert options == []
    for given in ("--usethreads", "--port=1234", "'lru'", "hwm='many'", "'--scheme' has no value"):
        assert given in caplog.text, given
