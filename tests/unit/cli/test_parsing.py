"""Argument parsing: docker's flag syntax, seed-era spellings, error texts."""

import io

import pytest

from hako.cli.parsing import Parser, UsageError
from hako.cli.runconfig import add_run_flags


def run_parser():
    p = Parser("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    add_run_flags(p)
    p.flag("-d", "--detach")
    p.option("--detach-keys")
    p.flag("--sig-proxy", default=True)
    return p


def parse(argv):
    err = io.StringIO()
    opts, args = run_parser().parse(argv, err)
    return opts, args, err.getvalue()


def test_combined_short_flags_and_values():
    opts, args, _ = parse(["-dit", "-p8080:80", "-e", "A=1", "--name=web", "busybox", "sh"])
    assert (opts.detach, opts.interactive, opts.tty) == (True, True, True)
    assert opts.publish[0][0].host_port == "8080"
    assert opts.env == ["A=1"] and opts.name == "web"
    assert args == ["busybox", "sh"]


def test_options_after_the_image_belong_to_the_command():
    opts, args, _ = parse(["--rm", "busybox", "ls", "-l", "--name", "x"])
    assert opts.rm and opts.name is None
    assert args == ["busybox", "ls", "-l", "--name", "x"]


def test_value_flag_at_end_of_short_group_takes_next_arg():
    opts, args, _ = parse(["-ite", "A=1", "busybox"])
    assert opts.env == ["A=1"] and args == ["busybox"]


def test_a_long_flags_value_may_start_with_a_dash():
    # pflag takes the next argument whatever it looks like; argparse would read a flag
    opts, args, _ = parse(["--health-interval", "-1s", "--stop-signal", "-9", "busybox"])
    assert opts.health_interval == -1_000_000_000 and opts.stop_signal == "-9"
    assert args == ["busybox"]


@pytest.mark.parametrize("argv,dest,value", [
    (["--rm=false", "img"], "rm", False), (["--rm=true", "img"], "rm", True),
    (["-d=true", "img"], "detach", True), (["-d=false", "img"], "detach", False),
    (["-i=false", "img"], "interactive", False), (["--sig-proxy=false", "img"], "sig_proxy", False),
])
def test_boolean_values(argv, dest, value):
    opts, _, _ = parse(argv)
    assert getattr(opts, dest) is value


def test_seed_spellings_work_with_deprecation_warnings():
    opts, args, err = parse(["-rm", "-name", "db", "-link", "a:b", "-r=false", "-t", "img"])
    assert opts.rm and opts.name == "db" and opts.link == ["a:b"] and opts.tty
    assert opts.restart.name == "no"
    assert "Warning: '-rm' is deprecated, it will be replaced by '--rm' soon. See usage." in err
    assert "Warning: '-name' is deprecated, it will be replaced by '--name' soon." in err
    assert "Warning: '-r=false' is deprecated, it will be replaced by '--restart=no' soon." in err
    assert args == ["img"]


def test_seed_name_with_equals():
    opts, _, err = parse(["-name=db", "img"])
    assert opts.name == "db" and "'-name'" in err


def test_unknown_flag_is_125_with_usage():
    with pytest.raises(UsageError) as e:
        parse(["--nope", "img"])
    assert e.value.status == 125
    assert str(e.value).startswith("unknown flag: --nope\n\nUsage:  hako run [OPTIONS] IMAGE")


def test_bad_value_text_like_docker():
    with pytest.raises(UsageError) as e:
        parse(["-m", "abc", "img"])
    assert str(e.value).startswith(
        'invalid argument "abc" for "-m, --memory" flag: invalid size: \'abc\'')
    with pytest.raises(UsageError) as e:
        parse(["--cpus", "x", "img"])
    assert 'failed to parse x as a rational number' in str(e.value)


def test_argument_count_errors_exit_1():
    p = Parser("stop", "[OPTIONS] CONTAINER [CONTAINER...]")
    with pytest.raises(UsageError) as e:
        p.need_args([], at_least=1)
    assert e.value.status == 1
    assert str(e.value).startswith("hako: 'hako stop' requires at least 1 argument")


def test_interspersed_commands_accept_flags_after_args():
    p = Parser("stop", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.option("-t", "--time")
    opts, args = p.parse(["a", "-t", "3", "b"])
    assert opts.time == "3" and args == ["a", "b"]
