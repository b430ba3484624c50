"""How ipyparallel-style command lines are read (ensemble/cluster/_argv.py): traitlets'
forms, as ipcluster, ipengine and ipcontroller take them."""

import pytest

from ensemble.cluster._argv import UsageError, parse

ALIASES = {"n", "profile", "cluster-id", "o", "timeout"}
FLAGS = {"daemonize", "debug", "all"}


def test_aliases_take_their_value_after_an_equals_sign_or_as_the_next_argument():
    parsed = parse(["-n", "4", "--profile=mpi", "--cluster-id", "a=b", "-o=json"], ALIASES, FLAGS)
    assert parsed.values == {"n": "4", "profile": "mpi", "cluster-id": "a=b", "o": "json"}


def test_flags_take_no_value_or_a_truth_value():
    parsed = parse(["--daemonize", "--debug=False", "--all=true"], ALIASES, FLAGS)
    assert parsed.values == {"daemonize": True, "debug": False, "all": True}
    with pytest.raises(UsageError):
        parse(["--daemonize=maybe"], ALIASES, FLAGS)


def test_class_trait_settings_are_kept_apart_from_aliases():
    parsed = parse(["--TaskScheduler.hwm=1", "--Cluster.n", "3", "-n", "2"], ALIASES, FLAGS)
    assert parsed.config == {"TaskScheduler.hwm": "1", "Cluster.n": "3"}
    assert parsed.values == {"n": "2"}


def test_positional_arguments_and_everything_after_a_double_dash_stay_in_order():
    parsed = parse(["one", "--all", "two", "--", "--not-an-option", "-n"], ALIASES, FLAGS)
    assert parsed.positional == ["one", "two", "--not-an-option", "-n"]


def test_a_negative_number_is_a_value_but_another_option_is_not():
    assert parse(["--timeout", "-1"], ALIASES, FLAGS).values == {"timeout": "-1"}
    with pytest.raises(UsageError, match="needs a value"):
        parse(["-n", "--daemonize"], ALIASES, FLAGS)
    with pytest.raises(UsageError, match="needs a value"):
        parse(["--profile"], ALIASES, FLAGS)


def test_an_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError, match="unrecognized argument: --bogus"):
        parse(["--bogus"], ALIASES, FLAGS)
    with pytest.raises(UsageError):
        parse(["-x", "1"], ALIASES, FLAGS)
