"""Help texts in docker's layout, from hako's parsers and docker's descriptions."""

import io

from hako.cli import help as helptext
from hako.cli.main import Context, run_cli
from hako.cli.parsing import Parser


def run(argv, environ=None):
    ctx = Context("", environ or {}, stdin=io.StringIO(), stdout=io.StringIO(),
                  stderr=io.StringIO())
    code = run_cli(argv, environ=environ or {}, ctx=ctx)
    return code, ctx.stdout.getvalue(), ctx.stderr.getvalue()


def test_root_help_in_every_spelling_goes_to_stdout_with_status_0():
    texts = [run(a) for a in ([], ["-h"], ["--help"], ["help"])]
    for code, out, err in texts:
        assert code == 0 and err == ""
        assert out.startswith("Usage:  hako [OPTIONS] COMMAND\n")
    out = texts[0][1]
    for section in ("Common Commands:", "Management Commands:", "Commands:", "Global Options:"):
        assert f"\n{section}\n" in out
    assert "\n  run         Create and run a new container from an image\n" in out
    assert "\n  context     Manage contexts\n" in out
    assert "\n  stats       Display a live stream of container(s) resource usage statistics\n" in out
    assert '  -l, --log-level string   Set the logging level ("debug", "info",' in out


def test_command_help_has_usage_description_aliases_and_described_flags():
    code, out, _ = run(["ps", "--help"])
    assert code == 0
    assert out.startswith("Usage:  hako ps [OPTIONS]\n\nList containers\n\nAliases:\n"
                          "  hako container ls, hako container list, hako container ps, hako ps\n")
    assert "  -n, --last int        Show n last created containers (includes all\n" \
           "                        states) (default -1)\n" in out
    assert run(["help", "ps"])[1] == out
    other = run(["container", "ls", "-h"])[1]  # usage names the command as typed, as docker
    assert other == out.replace("Usage:  hako ps ", "Usage:  hako container ls ", 1)


def test_run_help_keeps_h_for_hostname_and_lists_help():
    code, out, _ = run(["run", "--help"])
    assert code == 0 and "  -h, --hostname string" in out and "      --help " in out
    assert "--net " not in out  # a deprecated spelling docker hides too


def test_group_help_lists_its_verbs():
    code, out, _ = run(["container"])
    assert code == 0 and out.startswith("Usage:  hako container COMMAND\n\nManage containers\n")
    assert "\n  prune       Remove all stopped containers\n" in out
    assert "  list " not in out  # hidden alias
    assert run(["container", "--help"])[1] == out


def test_hako_only_flags_use_their_own_help():
    p = Parser("system check", "")
    p.flag("--extra", help="a hako extension")
    rows = helptext.flag_rows(p, helptext.entry("system check"))
    assert rows == [("      --extra", "a hako extension")]


def test_pflag_wrapping():
    text = "Show n last created containers (includes all states) (default -1)"
    assert helptext.wrap(24, text) == ("Show n last created containers (includes all\n"
                                       + " " * 24 + "states) (default -1)")
    assert helptext.wrap(24, "short") == "short"


def test_unknown_group_verb_is_docker_text():
    code, _, err = run(["container", "nosuch"])
    assert code == 1
    assert err == ("hako: unknown command: hako container nosuch\n\nUsage:  hako container\n\n"
                   "Run 'hako container --help' for more information\n")
