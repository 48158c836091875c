"""Table-driven cases for the Go-template subset (cli/gotemplate.py)."""

import pytest

from hako.cli.gotemplate import Template, TemplateError, TemplateParseError

DATA = {
    "Name": "/web",
    "State": {"Status": "running", "Pid": 42, "Running": True, "ExitCode": 0},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"b": "y", "a": "x<&>"}, "Cmd": None,
               "Entrypoint": ["sh", "-c"]},
    "Mounts": [],
    "Size": 1.5,
}

CASES = [
    ("{{.Name}}", "/web"),
    ("{{.State.Status}} {{.State.Pid}}", "running 42"),
    ("{{.State.Running}}", "true"),
    ("{{.Config.Cmd}}", "<nil>"),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Config.Labels}}", "map[a:x<&> b:y]"),
    ("{{json .Config.Labels}}", '{"b":"y","a":"x\\u003c\\u0026\\u003e"}'),
    ("{{json .Config.Cmd}}", "null"),
    ("{{json .Config.Entrypoint}}", '["sh","-c"]'),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", "0:A=1 1:B=2 "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=x<&>;b=y;"),
    ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
    ('{{index .Config.Labels "b"}}', "y"),
    ("{{index .Config.Env 1}}", "B=2"),
    ('{{if eq .State.Status "running"}}up{{else}}down{{end}}', "up"),
    ('{{if eq .State.Status "exited"}}a{{else if .State.Running}}b{{else}}c{{end}}', "b"),
    ("{{if not .Mounts}}empty{{end}}", "empty"),
    ("{{if and .State.Running .Name}}ok{{end}}", "ok"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ('{{join .Config.Entrypoint " "}}', "sh -c"),
    ("{{lower .State.Status}} {{upper .State.Status}} {{title .State.Status}}",
     "running RUNNING Running"),
    ("{{len .Config.Env}}", "2"),
    ('{{printf "%s has pid %d" .Name .State.Pid}}', "/web has pid 42"),
    ('{{printf "%q" .Name}}', '"/web"'),
    ("{{println .Name}}", "/web\n"),
    ("{{.Name | upper}}", "/WEB"),
    ("{{(index .Config.Env 0) | lower}}", "a=1"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{$n := .Name}}{{$n}}", "/web"),
    ("{{range .Config.Env}}{{$.Name}}{{end}}", "/web/web"),
    ("a {{- .Name -}} b", "a/webb"),
    ("{{/* comment */}}x", "x"),
    ('{{split "a,b" ","}}', "[a b]"),
    ("{{.Size}}", "1.5"),
    ("{{`raw`}}", "raw"),
    ("plain text", "plain text"),
]


@pytest.mark.parametrize("text,want", CASES)
def test_render(text, want):
    assert Template(text).render(DATA) == want


@pytest.mark.parametrize("text", ["{{.Name", "{{if .Name}}x", "{{end}}", "{{(.Name}}"])
def test_parse_errors(text):
    with pytest.raises(TemplateParseError):
        Template(text)


def test_missing_key_is_an_error_like_docker_missingkey_error():
    with pytest.raises(TemplateError, match='map has no entry for key "Nope"'):
        Template("{{.Nope}}").render(DATA)


def test_unknown_function():
    with pytest.raises(TemplateError, match='function "nope" not defined'):
        Template("{{nope .Name}}").render(DATA)
