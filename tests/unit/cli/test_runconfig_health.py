"""--health-* and --no-healthcheck → the create body's Healthcheck (cli/runconfig.py), with
the docker CLI's texts."""

import pytest

from hako.cli.parsing import Parser
from hako.cli.runconfig import add_run_flags, build_create_body
from hako.errors import InvalidArgument


def body(argv):
    p = Parser("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    add_run_flags(p)
    opts, args = p.parse(argv)
    return build_create_body(opts, args[0], args[1:], {})


def test_health_flags_as_the_docker_cli_sends_them():
    b = body(["--health-cmd", "test -f /ok", "--health-interval", "200ms", "--health-retries", "2",
              "--health-timeout", "1s", "--health-start-period", "1m", "busybox"])
    assert b["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 200_000_000,
                                "Timeout": 1_000_000_000, "StartPeriod": 60_000_000_000,
                                "Retries": 2}
    assert body(["--health-interval", "5s", "busybox"])["Healthcheck"] == {"Interval": 5_000_000_000}
    assert body(["--no-healthcheck", "busybox"])["Healthcheck"] == {"Test": ["NONE"]}
    assert "Healthcheck" not in body(["busybox"])


@pytest.mark.parametrize("argv,message", [
    (["--no-healthcheck", "--health-cmd", "x"], "--no-healthcheck conflicts with --health-* options"),
    (["--no-healthcheck", "--health-retries", "1"], "--no-healthcheck conflicts with --health-* options"),
    (["--health-interval", "-1s"], "--health-interval cannot be negative"),
    (["--health-timeout=-1ms"], "--health-timeout cannot be negative"),
    (["--health-retries", "-2"], "--health-retries cannot be negative"),
    (["--health-start-period", "-1s"], "--health-start-period cannot be negative"),
    (["--health-start-interval", "-1s"], "--health-start-interval cannot be negative"),
])
def test_health_flag_errors(argv, message):
    with pytest.raises(InvalidArgument) as err:
        body([*argv, "busybox"])
    assert str(err.value) == message


def test_health_duration_parse_error_names_the_flag():
    from hako.cli.parsing import UsageError

    with pytest.raises(UsageError) as err:
        body(["--health-interval", "1x", "busybox"])
    assert str(err.value).startswith(
        'invalid argument "1x" for "--health-interval" flag: time: unknown unit "x" in duration "1x"')


def test_health_start_interval_needs_api_1_44():
    from hako.cli.runconfig import version_errors

    p = Parser("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    add_run_flags(p)
    opts, _ = p.parse(["--health-start-interval", "1s", "busybox"])
    assert version_errors(opts, lambda: "1.41") == (
        '"--health-start-interval" requires API version 1.44, but the Docker daemon API version is 1.41')
    assert version_errors(opts, lambda: "1.44") is None
    plain, _ = p.parse(["busybox"])
    assert version_errors(plain, lambda: 1 / 0) is None  # no ping without the flag
