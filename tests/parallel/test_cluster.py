"""Cluster drives the `ensemble cluster` command; files are where the
protocol says."""

import json
import os
import stat
import sys

import pytest

import ensemble as ipp
from ensemble.client import files

import fake_core

FAKE_ENSEMBLE = r'''#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_ENSEMBLE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
def opt(name, default=""):
    return args[args.index(name) + 1] if name in args else default
cid = opt("--cluster-id")
security = os.path.join(opt("--profile-dir"), "security")
os.makedirs(security, exist_ok=True)
suffix = "-" + cid if cid else ""
client = os.path.join(security, "ipcontroller%s-client.json" % suffix)
cluster = os.path.join(security, "cluster%s.json" % suffix)
if args[:2] == ["cluster", "start"]:
    n = int(opt("-n", "0"))
    open(client, "w").write(json.dumps({{"cluster_id": cid}}))
    open(cluster, "w").write(json.dumps({{"cluster_id": cid, "n": n, "controller_pid": 1,
        "engine_pids": list(range(100, 100 + n)), "client_file": client, "engine_file": ""}}))
elif args[:2] == ["cluster", "stop"]:
    for path in (client, cluster):
        if os.path.exists(path):
            os.remove(path)
else:
    sys.exit(2)
'''


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    path = tmp_path / "ensemble"
    path.write_text(FAKE_ENSEMBLE.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("ENSEMBLE_BIN", str(path))
    monkeypatch.setenv("FAKE_ENSEMBLE_LOG", str(log))
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_file_names_follow_the_protocol(tmp_path):
    assert files.client_file("/s") == "/s/ipcontroller-client.json"
    assert files.client_file("/s", "x") == "/s/ipcontroller-x-client.json"
    assert files.cluster_file("/s", "x") == "/s/cluster-x.json"
    assert files.cluster_file("/s") == "/s/cluster.json"
    assert files.profile_dir("p", None, str(tmp_path)) == str(tmp_path / "profile_p")


def test_default_profile_dir_honours_ipythondir(monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    assert files.profile_dir() == str(tmp_path / "profile_default")


def test_executable_comes_from_env_first(monkeypatch):
    monkeypatch.setenv("ENSEMBLE_BIN", "/opt/x/ensemble")
    assert files.ensemble_executable() == "/opt/x/ensemble"


def test_start_and_stop_call_the_cli(fake_bin, tmp_path):
    cluster = ipp.Cluster(n=3, profile_dir=str(tmp_path / "prof"), cluster_id="abc",
                          controller_ip="0.0.0.0")
    cluster.start_cluster_sync()
    start = fake_bin()[0]
    assert start[:4] == ["cluster", "start", "-n", "3"]
    assert "--daemonize" in start and start[start.index("--ip") + 1] == "0.0.0.0"
    assert start[start.index("--cluster-id") + 1] == "abc"
    assert os.path.exists(cluster.client_file)
    assert cluster.controller["pid"] == 1
    loaded = ipp.Cluster.from_file(profile_dir=str(tmp_path / "prof"), cluster_id="abc")
    assert loaded.engines["0"]["pids"] == [100, 101, 102]
    cluster.stop_cluster_sync()
    assert fake_bin()[-1][:2] == ["cluster", "stop"]
    assert not os.path.exists(cluster.client_file) and cluster.controller is None


def test_context_manager_connects_a_client_and_stops(fake_bin, tmp_path, monkeypatch):
    from ensemble.client import client as client_module

    monkeypatch.setattr(client_module, "_make_connection",
                        lambda text, timeout: fake_core.FakeConnection(text, "", timeout,
                                                                       engines=2))
    with ipp.Cluster(n=2, profile_dir=str(tmp_path / "p"), cluster_id="cm") as rc:
        assert rc.ids == [0, 1]
        assert rc[:].apply_sync(lambda: 1) == [1, 1]
    assert fake_bin()[-1][:2] == ["cluster", "stop"]


def test_failing_cli_raises_with_its_stderr(monkeypatch, tmp_path):
    monkeypatch.setenv("ENSEMBLE_BIN", "/bin/false")
    with pytest.raises(RuntimeError, match="failed"):
        ipp.Cluster(n=1, profile_dir=str(tmp_path)).start_cluster_sync()


def test_client_finds_file_by_profile_dir_and_cluster_id(tmp_path, monkeypatch):
    from ensemble.client import client as client_module

    seen = []
    monkeypatch.setattr(client_module, "_make_connection",
                        lambda text, timeout: seen.append(text) or
                        fake_core.FakeConnection(text, "", timeout, engines=1))
    security = tmp_path / "security"
    security.mkdir()
    (security / "ipcontroller-xyz-client.json").write_text('{"cluster_id": "xyz"}')
    rc = ipp.Client(profile_dir=str(tmp_path), cluster_id="xyz")
    assert json.loads(seen[0])["cluster_id"] == "xyz"
    rc.close()
    with pytest.raises(OSError):
        ipp.Client(profile_dir=str(tmp_path), cluster_id="missing", timeout=0.2)


def test_settings_come_from_the_profile_then_a_config_then_keywords(tmp_path):
    from traitlets.config import Config

    (tmp_path / "ipcluster_config.json").write_text(json.dumps(
        {"Cluster": {"controller_args": ["--from-profile"], "n": 5, "engine_timeout": 10}}))
    (tmp_path / "ipcluster_config.py").write_text(
        "c = get_config()\nc.Cluster.controller_ip = '10.0.0.1'\nc.Cluster.n = 3\n")
    config = Config()
    config.Cluster.engine_timeout = 20
    c = ipp.Cluster(profile_dir=str(tmp_path), n=10, config=config)
    assert c.controller_args == ["--from-profile"]  # the profile's JSON file
    assert c.controller_ip == "10.0.0.1"  # the profile's Python file
    assert c.engine_timeout == 20  # the config over the profile
    assert c.n == 10  # the keyword over both
    assert c.config is config
    assert ipp.Cluster(profile_dir=str(tmp_path), load_profile=False).controller_args == []


def test_a_broken_profile_config_is_ignored_with_a_warning(tmp_path, caplog):
    (tmp_path / "ipcluster_config.py").write_text("c = get_config()\nc.Cluster.n = undefined_name\n")
    c = ipp.Cluster(profile_dir=str(tmp_path), n=2)
    assert c.n == 2 and "ipcluster_config.py" in caplog.text


def test_a_cluster_has_a_logger_named_by_its_id_and_log_level_sets_it(tmp_path):
    c = ipp.Cluster(profile_dir=str(tmp_path), cluster_id="logged", log_level=10)
    assert c.log.name.endswith(".logged") and c.log.level == 10


def test_a_cluster_made_from_a_dict_or_file_is_not_stopped_when_this_program_exits(tmp_path):
    c = ipp.Cluster(profile_dir=str(tmp_path), cluster_id="x")
    assert c.shutdown_atexit
    assert not ipp.Cluster.from_dict(c.to_dict()).shutdown_atexit
    assert ipp.Cluster.from_dict(c.to_dict(), shutdown_atexit=True).shutdown_atexit


def test_a_sync_call_leaves_the_threads_current_event_loop_in_place():
    # a notebook cell may start a cluster, then make an asyncio.Task on its kernel's loop
    import asyncio

    from ensemble._async import run_sync

    async def answer():
        return 42

    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        assert run_sync(answer) == 42
        assert asyncio.get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_dir_of_a_cluster_lists_the_sync_twin_of_each_coroutine_method():
    names = dir(ipp.Cluster(load_profile=False))
    for method in ("start_cluster", "stop_cluster", "start_and_connect", "connect_client", "signal_engines"):
        assert method in names and method + "_sync" in names
    assert "to_dict_sync" not in names and "_run_sync" not in names


def test_ipyparallels_settings_delay_location_load_profile_and_log_level_are_kept_as_given(tmp_path):
    c = ipp.Cluster(profile_dir=str(tmp_path), delay=0.5, controller_location="node7", load_profile=False,
                    log_level=10)
    assert (c.delay, c.controller_location, c.load_profile, c.log_level) == (0.5, "node7", False, 10)
    plain = ipp.Cluster(profile_dir=str(tmp_path))
    assert (plain.delay, plain.controller_location, plain.load_profile) == (1.0, "", True)
    assert plain.log_level == 20
    assert {"signal_engine_sync", "stop_engine_sync", "restart_engine_sync"} <= set(dir(plain))
