"""Compose project loading: discovery, merging, interpolation, extends, include, profiles,
Fig v1, and our validation against the Compose Specification's JSON schema (the oracle)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from hako.compose import schema
from hako.compose.errors import ComposeError
from hako.compose.interpolate import TemplateError, interpolate, substitute
from hako.compose.loader import Options, find_files, load_project
from hako.compose.yamlfile import Marks, load

DATA = Path(__file__).resolve().parents[2] / "data" / "compose"
# the oracle lives in the shared specs folder beside the checkout (<checkout>/../shared/specs)
SPEC = Path(__file__).resolve().parents[3].parent / "shared" / "specs" / "compose-spec.json"
INVALID = yaml.safe_load((DATA / "invalid.yaml").read_text())


def oracle():
    assert SPEC.exists(), f"the Compose Specification's JSON schema is expected at {SPEC}"
    return jsonschema.Draft7Validator(json.loads(SPEC.read_text()))


def project(path, **kw):
    warnings: list[str] = []
    kw.setdefault("environ", {})
    p = load_project(Options(cwd=str(path), warn=warnings.append, **kw))
    return p, warnings


# --- interpolation -------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("$A", "a"), ("${A}", "a"), ("x${A}y", "xay"), ("$$A", "$A"), ("$${A}", "${A}"),
    ("${U:-d}", "d"), ("${E:-d}", "d"), ("${E-d}", ""), ("${U-d}", "d"), ("${A:-d}", "a"),
    ("${A:+r}", "r"), ("${E:+r}", ""), ("${E+r}", "r"), ("${U+r}", ""),
    ("${U:-${A}-x}", "a-x"), ("${A?e}", "a"), ("a $ b", "a $ b"), ("${U}", ""),
])
def test_substitute(text, want):
    assert substitute(text, {"A": "a", "E": ""}) == want


@pytest.mark.parametrize("text,msg", [
    ("${U:?need U}", "required variable U is missing a value: need U"),
    ("${E:?}", "required variable E is missing a value"),
    ("${U?x}", "required variable U is missing a value: x"),
    ("${A", 'Invalid template: "${A"'), ("${}", 'Invalid template: "${}"'),
    ("${A:x}", 'Invalid template: "${A:x}"'),
])
def test_substitute_errors(text, msg):
    with pytest.raises(TemplateError) as ei:
        substitute(text, {"A": "a", "E": ""})
    assert str(ei.value) == msg


def test_unset_variable_warns():
    seen: list[str] = []
    assert substitute("${NOPE}", {}, seen.append) == ""
    assert seen == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_interpolation_error_names_file_line_and_path():
    marks = Marks()
    doc = load("services:\n  web:\n    image: ${X:?no}\n", "c.yaml", marks)
    with pytest.raises(ComposeError) as ei:
        interpolate(doc, {}, marks)
    assert str(ei.value) == "c.yaml:3: services.web.image: required variable X is missing a value: no"


# --- discovery and files --------------------------------------------------------------

def test_discovery_order(tmp_path):
    for name in ("fig.yml", "docker-compose.yaml", "docker-compose.yml", "compose.yml",
                 "compose.yaml"):
        (tmp_path / name).write_text("services: {}\n")
        assert find_files(str(tmp_path)) == [str(tmp_path / name)]
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert find_files(str(sub)) == [str(tmp_path / "compose.yaml")]  # parents are searched


def test_discovery_none(tmp_path):
    with pytest.raises(ComposeError, match="no configuration file provided: not found"):
        find_files(str(tmp_path))


def test_override_file_and_multiple_f():
    p, _ = project(DATA / "override")
    web = p.services["web"].spec
    assert web["command"] == ["sleep", "200"]  # replaced
    assert web["environment"] == {"A": "1", "B": "3"}  # merged by key across syntaxes
    assert [x["published"] for x in web["ports"]] == ["18001", "18002"]  # appended
    assert web["labels"] == {"x": "1", "y": "2"}
    p2, _ = project(DATA / "override", files=["compose.yaml", "other.yaml"])
    assert p2.services["web"].spec["environment"] == {"A": "1", "B": "2", "C": "4"}
    assert set(p2.services) == {"web", "extra"}
    assert p2.config_files == [str(DATA / "override" / "compose.yaml"),
                               str(DATA / "override" / "other.yaml")]


def test_project_name_sources(tmp_path):
    d = tmp_path / "My Proj.1"
    d.mkdir()
    (d / "compose.yaml").write_text("services:\n  a: {image: busybox}\n")
    assert project(d)[0].name == "myproj1"
    assert project(d, project_name="given")[0].name == "given"
    assert project(d, environ={"COMPOSE_PROJECT_NAME": "fromenv"})[0].name == "fromenv"
    (d / "compose.yaml").write_text("name: named\nservices:\n  a: {image: busybox}\n")
    assert project(d)[0].name == "named"
    with pytest.raises(ComposeError, match='invalid project name "Bad!"'):
        project(d, project_name="Bad!")


def test_env_file_and_interpolation():
    p, warnings = project(DATA / "envfile", environ={"GREETING": "from-shell"})
    app = p.services["app"].spec
    assert p.name == "envproj"  # COMPOSE_PROJECT_NAME from .env
    assert app["image"] == "busybox:latest"
    assert app["environment"] == {"GREETING": "from-shell", "ALT": "alt", "PLUS": "tag-set",
                                  "DOLLAR": "$HOME"}
    assert p.environment["QUOTED"] == "a b # not a comment"
    assert p.environment["SINGLE"] == "$TAG stays"
    assert p.environment["EXPANDED"] == "latest-x"
    assert warnings == []


def test_explicit_env_file(tmp_path):
    shutil.copytree(DATA / "envfile", tmp_path / "e")
    (tmp_path / "other.env").write_text("TAG=1.36\nGREETING=g\n")
    p, _ = project(tmp_path / "e", env_files=[str(tmp_path / "other.env")])
    assert p.services["app"].spec["image"] == "busybox:1.36"
    assert p.name == "e"  # the .env (with COMPOSE_PROJECT_NAME) is not read


def test_compose_file_variable():
    p, _ = project(DATA / "override", environ={"COMPOSE_FILE": "compose.yaml:other.yaml"})
    assert set(p.services) == {"web", "extra"}


def test_extends_across_files():
    p, _ = project(DATA / "extends")
    child = p.services["child"].spec
    assert child["image"] == "busybox"
    assert child["environment"] == {"LEVEL": "child"}
    assert child["labels"] == {"from": "base"}
    grand = p.services["grandchild"].spec
    assert grand["command"] == ["echo", "hi"] and grand["environment"] == {"LEVEL": "child"}
    assert "extends" not in grand


def test_extends_cycle(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    extends: b\n  b:\n    extends: a\n")
    with pytest.raises(ComposeError, match="circular reference with extends"):
        project(tmp_path)


def test_include():
    p, _ = project(DATA / "include")
    assert set(p.services) == {"front", "back"}
    vol = p.services["back"].spec["volumes"][0]
    assert vol["source"] == str(DATA / "include" / "sub" / "data")  # relative to the include


def test_include_conflict(tmp_path):
    shutil.copytree(DATA / "include", tmp_path / "i")
    (tmp_path / "i" / "compose.yaml").write_text(
        "include: [sub/compose.yaml]\nservices:\n  back: {image: busybox}\n")
    with pytest.raises(ComposeError, match="services.back conflicts with imported resource"):
        project(tmp_path / "i")


def test_profiles():
    p, _ = project(DATA / "profiles")
    assert set(p.services) == {"app"}
    assert set(project(DATA / "profiles", profiles=["debug"])[0].services) == \
        {"app", "debug", "tools"}
    assert set(project(DATA / "profiles", environ={"COMPOSE_PROFILES": "tools"})[0].services) \
        == {"app", "tools"}
    named = load_project(Options(cwd=str(DATA / "profiles"), environ={}), wanted=["debug"])
    assert set(named.services) == {"app", "debug"}


def test_anchors_and_extensions():
    p, _ = project(DATA / "full")
    app = p.services["app"].spec
    assert app["logging"] == {"driver": "json-file", "options": {"max-size": "10m"}}
    assert "x-logging" not in p.to_dict()


def test_fig_v1_converted_with_warning():
    p, warnings = project(DATA / "fig")
    assert set(p.services) == {"web", "db"}
    assert p.services["web"].spec["links"] == ["db"]
    assert any("Fig/v1 file format is deprecated" in w for w in warnings)
    assert p.name == "fig"


def test_fig_net_and_dockerfile(tmp_path):
    (tmp_path / "fig.yml").write_text(
        "a:\n  build: .\n  dockerfile: Other\n  net: host\n  log_driver: none\n"
        "  volumes_from: [b, datacontainer:ro]\nb:\n  image: busybox\n")
    a = project(tmp_path)[0].services["a"].spec
    assert a["volumes_from"] == ["b", "container:datacontainer:ro"]
    assert a["network_mode"] == "host" and "networks" not in a
    assert a["build"] == {"context": str(tmp_path), "dockerfile": "Other"}
    assert a["logging"] == {"driver": "none"}


# --- validation: ours against the oracle ----------------------------------------------

def _interpolated(path: Path, env=None):
    marks = Marks()
    doc = load(path.read_text(), str(path), marks)
    if path.name.startswith("fig"):
        from hako.compose import fig

        doc = fig.convert(doc, marks)
    return interpolate(doc, env or {}, marks), marks


EXAMPLES = ["fig/fig.yml", "everything/compose.yaml", "full/compose.yaml", "override/compose.yaml",
            "override/compose.override.yaml", "override/other.yaml", "extends/base.yaml",
            "extends/compose.yaml", "include/compose.yaml", "include/sub/compose.yaml",
            "profiles/compose.yaml", "envfile/compose.yaml"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_valid_for_both(name):
    doc, marks = _interpolated(DATA / name, {"TAG": "latest"})
    errors = list(oracle().iter_errors(doc))
    assert errors == [], [e.message for e in errors]
    schema.validate(doc, marks)


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_files(case, tmp_path):
    (tmp_path / "compose.yaml").write_text(case["text"])
    if case["schema"] is not None:
        try:
            doc = yaml.safe_load(case["text"])
            doc = interpolate(doc, {}, Marks())
        except ComposeError:
            doc = None
        if doc is not None:
            oracle_rejects = bool(list(oracle().iter_errors(doc)))
            assert oracle_rejects == case["schema"]
    with pytest.raises(ComposeError) as ei:
        load_project(Options(cwd=str(tmp_path), environ={}))
    err = ei.value
    assert err.file == str(tmp_path / "compose.yaml")
    assert err.line == case["line"], str(err)
    assert err.path == case["path"], str(err)
    assert str(err).startswith(f"{err.file}:{err.line}: ")
    if case.get("error"):
        assert case["error"] in str(err)


def test_duplicate_keys_refused(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a: {image: x}\n  a: {image: y}\n")
    with pytest.raises(ComposeError, match="already defined") as ei:
        load_project(Options(cwd=str(tmp_path), environ={}))
    assert ei.value.line == 3


def test_every_spec_service_key_is_known():
    spec = oracle().schema
    assert set(spec["definitions"]["service"]["properties"]) == set(schema.SERVICE)
    assert set(spec["properties"]) == set(schema.TOP)


@pytest.mark.parametrize("a,b,clash", [
    ("127.0.0.1:18080:80", "127.0.0.1:18080:81", True),
    ("18080:80", "127.0.0.1:18080:81", True),
    ("127.0.0.1:18080:80", "127.0.0.2:18080:81", False),
    ("127.0.0.1:18080:80/udp", "127.0.0.1:18080:80", False),
    ("127.0.0.1::80", "127.0.0.1::80", False),
])
def test_port_conflicts(tmp_path, a, b, clash):
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  x:\n    image: busybox\n    ports: ['{a}']\n"
        f"  y:\n    image: busybox\n    ports: ['{b}']\n")
    if clash:
        with pytest.raises(ComposeError, match='published by services "x" and "y"'):
            project(tmp_path)
    else:
        project(tmp_path)


def test_replicas_with_a_fixed_port_conflict(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  x:\n    image: busybox\n    ports: ['18080:80']\n"
        "    deploy: {replicas: 2}\n")
    with pytest.raises(ComposeError, match='2 replicas of service "x"'):
        project(tmp_path)


def _paths(d, p=()):
    yield p
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, p + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, p + (i,))


MUTANTS = [1, 1.5, True, "s", [], {}, None, ["a", "a"], ["a"], {"a": 1}, -5]


@pytest.mark.parametrize("name", ["everything/compose.yaml", "full/compose.yaml"])
def test_mutations_agree_with_the_oracle(name):
    """Every path of a file that uses every key, replaced by a value of another shape (one
    per path, in rotation), and an unknown key added to every mapping: our validation
    rejects exactly what the specification's JSON schema rejects."""
    import copy

    spec = oracle()
    doc, _ = _interpolated(DATA / name, {"TAG": "latest"})
    assert spec.is_valid(doc)
    disagreements, count = [], 0
    for n, path in enumerate(p for p in _paths(doc) if p):
        for mutant in (MUTANTS[n % len(MUTANTS)], "unknown-key"):
            d = copy.deepcopy(doc)
            target = d
            for key in path[:-1]:
                target = target[key]
            if mutant == "unknown-key":
                if not isinstance(target[path[-1]], dict):
                    continue
                target[path[-1]]["zz_unknown"] = 1
            else:
                target[path[-1]] = mutant
            count += 1
            try:
                schema.validate(d, Marks())
                ours = True
            except ComposeError:
                ours = False
            if ours != spec.is_valid(d):
                disagreements.append((".".join(map(str, path)), mutant, ours))
    assert count > 150 and disagreements == []


def test_yaml_core_schema_scalars():
    """Plain scalars resolve as YAML 1.2 (compose v2), not PyYAML's YAML 1.1."""
    doc = load("a: yes\nb: no\nc: on\nd: 22:22\ne: 2024-01-01\nf: true\ng: False\n"
               "h: 0x1F\ni: 0o17\nj: 1.5\nk: ~\nl: null\nm: 12\nn: 1e3\n", "f", Marks())
    assert doc == {"a": "yes", "b": "no", "c": "on", "d": "22:22", "e": "2024-01-01",
                   "f": True, "g": False, "h": 31, "i": 15, "j": 1.5, "k": None, "l": None,
                   "m": 12, "n": 1000.0}


def test_restart_no_and_sexagesimal_ports(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    restart: no\n    ports:\n      - 22:22\n")
    svc = project(tmp_path)[0].services["a"].spec
    assert svc["restart"] == "no"
    assert svc["ports"] == [{"mode": "ingress", "target": 22, "published": "22",
                             "protocol": "tcp"}]


@pytest.mark.parametrize("spec,want", [
    ("/anon", {"type": "volume", "target": "/anon"}),
    ("/anon:ro", {"type": "volume", "target": "/anon", "read_only": True}),
    ("v:/d:nocopy", {"type": "volume", "source": "v", "target": "/d",
                     "volume": {"nocopy": True}}),
    ("/h:/c:ro,rslave,z", {"type": "bind", "source": "/h", "target": "/c", "read_only": True,
                           "bind": {"create_host_path": True, "propagation": "rslave",
                                    "selinux": "z"}}),
])
def test_short_volume_syntax(spec, want):
    from hako.compose.model import volume_entry

    assert volume_entry(spec, ("v",), Marks()) == want


@pytest.mark.parametrize("spec,msg", [
    ("v:relative", "mount path must be absolute"),
    ("/h:/c:bogus", "unknown option 'bogus'"),
    ("a:b:c:d", "too many colons"),
    ("/h::ro", "empty section"),
])
def test_short_volume_syntax_errors(spec, msg):
    from hako.compose.model import volume_entry

    with pytest.raises(ComposeError, match=msg):
        volume_entry(spec, ("v",), Marks())


@pytest.mark.parametrize("line,path,msg", [
    ("expose: [abc]", "services.a.expose.0", "invalid range format for --expose"),
    ("restart: sometimes", "services.a.restart", "invalid restart policy"),
    ("stop_grace_period: soon", "services.a.stop_grace_period", "invalid duration"),
    ("mem_limit: lots", "services.a.mem_limit", "invalid size"),
    ("cpus: many", "services.a.cpus", "as a rational number"),
    ("healthcheck: {test: 'true', interval: 5x}", "services.a.healthcheck.interval",
     "invalid duration"),
])
def test_values_are_checked_before_anything_is_created(tmp_path, line, path, msg):
    (tmp_path / "compose.yaml").write_text(f"services:\n  a:\n    image: busybox\n    {line}\n")
    with pytest.raises(ComposeError, match=msg) as ei:
        project(tmp_path)
    assert ei.value.path == path and ei.value.line == 4


def test_links_and_volumes_from_imply_depends_on(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    links: ['db:database']\n"
        "    volumes_from: [data]\n  db: {image: busybox}\n  data: {image: busybox}\n")
    web = project(tmp_path)[0].services["web"]
    assert web.depends_on == {"db": {"condition": "service_started", "required": True},
                              "data": {"condition": "service_started", "required": True}}
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    links: [nope]\n")
    with pytest.raises(ComposeError, match='depends on undefined service "nope"') as ei:
        project(tmp_path)
    assert ei.value.path == "services.web.links.0" and ei.value.line == 4
