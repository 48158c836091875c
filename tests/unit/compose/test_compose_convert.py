"""Pure Service → Engine API bodies: names, labels, config hash, and each model key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hako.compose import convert
from hako.compose import labels as L
from hako.compose.errors import ComposeError
from hako.compose.loader import Options, load_project

DATA = Path(__file__).resolve().parents[2] / "data" / "compose"


def load(tmp_path, text, name="proj"):
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(Options(cwd=str(tmp_path), project_name=name, environ={}))


def body(tmp_path, svc_yaml, extra=""):
    text = "services:\n  s:\n    image: busybox\n" + "".join(
        "    " + line + "\n" for line in svc_yaml.strip().splitlines()) + extra
    p = load(tmp_path, text)
    convert.check_supported(p)
    return convert.container_body(p, p.services["s"], 1)


CASES = [
    ("device_cgroup_rules: ['c 1:3 mr', 'a *:* r']",
     lambda b: b["HostConfig"]["DeviceCgroupRules"] == ["c 1:3 mr", "a *:* r"]),
    ("blkio_config: {weight: 300, weight_device: [{path: /dev/sda, weight: 400}], "
     "device_read_bps: [{path: /dev/sda, rate: 12mb}], device_write_iops: [{path: /dev/sdb, rate: 30}]}",
     lambda b: (b["HostConfig"]["BlkioWeight"], b["HostConfig"]["BlkioWeightDevice"],
                b["HostConfig"]["BlkioDeviceReadBps"], b["HostConfig"]["BlkioDeviceWriteIOps"]) ==
     (300, [{"Path": "/dev/sda", "Weight": 400}], [{"Path": "/dev/sda", "Rate": 12 << 20}],
      [{"Path": "/dev/sdb", "Rate": 30}])),
    ("command: echo hi there", lambda b: b["Cmd"] == ["echo", "hi", "there"]),
    ("command: [sh, -c, 'a b']", lambda b: b["Cmd"] == ["sh", "-c", "a b"]),
    ("entrypoint: ''", lambda b: b["Entrypoint"] == []),
    ("environment: [A=1, B]", lambda b: b["Env"] == ["A=1"]),
    ("environment: {A: 1, T: true}", lambda b: b["Env"] == ["A=1", "T=true"]),
    ("ports: ['8080:80']", lambda b: b["HostConfig"]["PortBindings"] ==
     {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} and b["ExposedPorts"] == {"80/tcp": {}}),
    ("ports: ['127.0.0.1::53/udp']", lambda b: b["HostConfig"]["PortBindings"] ==
     {"53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    ("ports: [80]", lambda b: b["HostConfig"]["PortBindings"] ==
     {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
    ("ports: ['9000-9001:80-81']", lambda b: sorted(b["HostConfig"]["PortBindings"]) ==
     ["80/tcp", "81/tcp"] and b["HostConfig"]["PortBindings"]["81/tcp"][0]["HostPort"] == "9001"),
    ("expose: ['3000-3001', 5000]", lambda b: set(b["ExposedPorts"]) ==
     {"3000/tcp", "3001/tcp", "5000/tcp"}),
    ("volumes: ['/h:/c:ro']", lambda b: b["HostConfig"]["Binds"] == ["/h:/c:ro"]),
    ("volumes: ['/anon']", lambda b: b["HostConfig"]["Mounts"] ==
     [{"Type": "volume", "Target": "/anon"}]),
    ("volumes: [{type: bind, source: /h, target: /c, bind: {propagation: rslave}}]",
     lambda b: b["HostConfig"]["Mounts"] == [{"Type": "bind", "Target": "/c", "Source": "/h",
                                              "BindOptions": {"Propagation": "rslave"}}]),
    ("volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}]",
     lambda b: b["HostConfig"]["Mounts"][0]["TmpfsOptions"] == {"SizeBytes": 1 << 20,
                                                                 "Mode": 0o1777}),
    ("restart: always", lambda b: b["HostConfig"]["RestartPolicy"] ==
     {"Name": "always", "MaximumRetryCount": 0}),
    ("restart: 'no'", lambda b: b["HostConfig"]["RestartPolicy"]["Name"] == ""),
    ("healthcheck: {test: curl x, interval: 1m30s, retries: 2}", lambda b: b["Healthcheck"] ==
     {"Test": ["CMD-SHELL", "curl x"], "Interval": 90 * 10**9, "Retries": 2}),
    ("healthcheck: {disable: true}", lambda b: b["Healthcheck"] == {"Test": ["NONE"]}),
    ("deploy: {resources: {limits: {cpus: '1.5', memory: 1g, pids: 10}}}",
     lambda b: (b["HostConfig"]["NanoCpus"], b["HostConfig"]["Memory"],
                b["HostConfig"]["PidsLimit"]) == (1_500_000_000, 1 << 30, 10)),
    ("mem_limit: 64m", lambda b: b["HostConfig"]["Memory"] == 64 << 20),
    ("deploy: {resources: {reservations: {memory: 32m}}}",
     lambda b: b["HostConfig"]["MemoryReservation"] == 32 << 20),
    ("deploy: {restart_policy: {condition: on-failure, max_attempts: 4}}",
     lambda b: b["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                    "MaximumRetryCount": 4}),
    ("deploy: {restart_policy: {condition: any}}\nrestart: 'no'",
     lambda b: b["HostConfig"]["RestartPolicy"]["Name"] == ""),  # restart wins
    ("deploy: {mode: replicated, replicas: 3}", lambda b: "Replicas" not in b),
    ("labels: {a: b}", lambda b: b["Labels"]["a"] == "b" and b["Labels"][L.SERVICE] == "s"),
    ("user: nobody", lambda b: b["User"] == "nobody"),
    ("working_dir: /w", lambda b: b["WorkingDir"] == "/w"),
    ("hostname: h", lambda b: b["Hostname"] == "h"),
    ("extra_hosts: ['a:1.2.3.4', 'b=5.6.7.8']", lambda b: b["HostConfig"]["ExtraHosts"] ==
     ["a:1.2.3.4", "b:5.6.7.8"]),
    ("extra_hosts: {a: 1.2.3.4}", lambda b: b["HostConfig"]["ExtraHosts"] == ["a:1.2.3.4"]),
    ("dns: 1.1.1.1", lambda b: b["HostConfig"]["Dns"] == ["1.1.1.1"]),
    ("cap_add: [NET_ADMIN]", lambda b: b["HostConfig"]["CapAdd"] == ["NET_ADMIN"]),
    ("cap_drop: [ALL]", lambda b: b["HostConfig"]["CapDrop"] == ["ALL"]),
    ("privileged: 'true'", lambda b: b["HostConfig"]["Privileged"] is True),
    ("read_only: true", lambda b: b["HostConfig"]["ReadonlyRootfs"] is True),
    ("tmpfs: ['/run:size=1m', /tmp]", lambda b: b["HostConfig"]["Tmpfs"] ==
     {"/run": "size=1m", "/tmp": ""}),
    ("ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}", lambda b: b["HostConfig"]["Ulimits"] ==
     [{"Name": "nofile", "Soft": 1, "Hard": 2}, {"Name": "nproc", "Soft": 3, "Hard": 3}]),
    ("sysctls: [net.ipv4.ip_forward=1]", lambda b: b["HostConfig"]["Sysctls"] ==
     {"net.ipv4.ip_forward": "1"}),
    ("annotations: [com.example.a=1]", lambda b: b["HostConfig"]["Annotations"] ==
     {"com.example.a": "1"}),
    ("annotations: {com.example.a: x=y}", lambda b: b["HostConfig"]["Annotations"] ==
     {"com.example.a": "x=y"}),
    ("init: true", lambda b: b["HostConfig"]["Init"] is True),
    ("stop_signal: SIGUSR1", lambda b: b["StopSignal"] == "SIGUSR1"),
    ("stop_grace_period: 1m", lambda b: b["StopTimeout"] == 60),
    ("logging: {driver: none}", lambda b: b["HostConfig"]["LogConfig"] ==
     {"Type": "none", "Config": {}}),
    ("network_mode: host", lambda b: b["HostConfig"]["NetworkMode"] == "host" and
     "NetworkingConfig" not in b),
    ("network_mode: 'container:abc'", lambda b: b["HostConfig"]["NetworkMode"] ==
     "container:abc"),
    ("tty: true\nstdin_open: true", lambda b: b["Tty"] is True and b["OpenStdin"] is True),
]


@pytest.mark.parametrize("svc,check", CASES, ids=[c[0] for c in CASES])
def test_service_keys(tmp_path, svc, check):
    b = body(tmp_path, svc)
    assert check(b), json.dumps(b, indent=1)


def test_names_labels_and_default_network(tmp_path):
    p = load(tmp_path, "services:\n  web:\n    image: busybox\n", name="demo")
    b = convert.container_body(p, p.services["web"], 3)
    assert convert.container_name(p, p.services["web"], 3) == "demo-web-3"
    labels = b["Labels"]
    assert labels[L.PROJECT] == "demo" and labels[L.SERVICE] == "web"
    assert labels[L.NUMBER] == "3" and labels[L.ONEOFF] == "False"
    assert labels[L.WORKING_DIR] == str(tmp_path)
    assert labels[L.CONFIG_FILES] == str(tmp_path / "compose.yaml")
    assert labels[L.VERSION]
    assert b["HostConfig"]["NetworkMode"] == "demo_default"
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"demo_default": {"Aliases": ["web"]}}}
    assert convert.network_body(p, "default") == {
        "Name": "demo_default", "Driver": "bridge", "CheckDuplicate": True,
        "Labels": {L.PROJECT: "demo", L.NETWORK: "default", L.VERSION: L.COMPOSE_VERSION}}
    assert convert.container_body(p, p.services["web"], 1, oneoff=True)["Labels"][L.ONEOFF] \
        == "True"


def test_config_hash_is_sha256_of_normalised_service(tmp_path):
    p = load(tmp_path, "services:\n  a:\n    image: busybox\n    environment: {X: '1'}\n"
                       "    depends_on: [b]\n    scale: 2\n  b: {image: busybox}\n")
    spec = {k: v for k, v in p.services["a"].spec.items() if k not in ("depends_on", "scale")}
    want = hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())
    assert convert.config_hash(p.services["a"]) == want.hexdigest()
    assert convert.container_body(p, p.services["a"], 1)["Labels"][L.CONFIG_HASH] == \
        want.hexdigest()


def test_config_hash_changes_only_with_runtime_config(tmp_path):
    def h(extra):
        p = load(tmp_path, "services:\n  a:\n    image: busybox\n" + extra)
        return convert.config_hash(p.services["a"])

    base = h("")
    assert h("    environment: {X: '2'}\n") != base
    assert h("    scale: 3\n") == base  # replicas do not recreate
    assert h("    deploy: {replicas: 4}\n") == h("    deploy: {replicas: 2}\n")
    from hako.compose.model import Service

    spec = {"image": "busybox"}
    assert convert.config_hash(Service("a", {**spec, "profiles": ["p"]})) == \
        convert.config_hash(Service("a", spec))  # profiles only select services
    assert h("    environment: {X: '2'}\n") == h("    environment: [X=2]\n")


def test_networks_aliases_ipv4_and_links(tmp_path):
    p = load(tmp_path, """
services:
  web:
    image: busybox
    links: ["db:database"]
    networks:
      front: {aliases: [www], ipv4_address: 10.9.0.5}
      back: {}
  db:
    image: busybox
    networks: [back]
networks:
  front: {}
  back: {}
""")
    web, db = p.services["web"], p.services["db"]
    assert convert.endpoints(p, web) == [
        ("proj_back", {"Aliases": ["web"]}),
        ("proj_front", {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "10.9.0.5"}})]
    # a link's alias names the linked container on the shared networks
    assert convert.endpoints(p, db) == [("proj_back", {"Aliases": ["db", "database"]})]
    assert "Links" not in convert.host_config(p, web)


def test_legacy_links_on_the_default_bridge(tmp_path):
    p = load(tmp_path, "services:\n  web:\n    image: busybox\n    network_mode: bridge\n"
                       "    links: [db]\n    volumes_from: ['db:ro']\n"
                       "  db:\n    image: busybox\n    network_mode: bridge\n")
    hc = convert.host_config(p, p.services["web"])
    assert hc["Links"] == ["proj-db-1:db"]
    assert hc["VolumesFrom"] == ["proj-db-1:ro"]
    assert hc["NetworkMode"] == "bridge"


def test_secrets_and_configs_are_file_binds():
    p = load_project(Options(cwd=str(DATA / "full"), environ={}))
    mounts = convert.container_body(p, p.services["app"], 1)["HostConfig"]["Mounts"]
    assert {"Type": "bind", "Source": str(DATA / "full" / "token.txt"),
            "Target": "/run/secrets/token", "ReadOnly": True} in mounts
    assert {"Type": "bind", "Source": str(DATA / "full" / "app.conf"),
            "Target": "/etc/app.conf", "ReadOnly": True} in mounts
    assert {"Type": "volume", "Target": "/data", "Source": "full_data"} in mounts


def test_volume_body(tmp_path):
    p = load(tmp_path, "services:\n  a: {image: busybox, volumes: ['v:/v']}\n"
                       "volumes:\n  v:\n    labels: {k: v}\n    driver_opts: {type: tmpfs}\n")
    assert convert.volume_body(p, "v") == {
        "Name": "proj_v", "Driver": "local", "DriverOpts": {"type": "tmpfs"},
        "Labels": {"k": "v", L.PROJECT: "proj", L.VOLUME: "v", L.VERSION: L.COMPOSE_VERSION}}


def test_build_image_name(tmp_path):
    (tmp_path / "ctx").mkdir()
    p = load(tmp_path, "services:\n  app:\n    build: ./ctx\n")
    assert convert.image_name(p, p.services["app"]) == "proj-app"


@pytest.mark.parametrize("key", ["gpus: all", "post_start: [{command: x}]",
                                 "cgroup: host", "pull_policy: daily",
                                 "deploy: {placement: {constraints: [a==b]}}",
                                 "deploy: {mode: global}",
                                 "deploy: {resources: {reservations: {cpus: '1'}}}"])
def test_unsupported_keys_are_refused(tmp_path, key):
    with pytest.raises(ComposeError, match="is not supported by hako compose") as ei:
        body(tmp_path, key)
    assert ei.value.line == 4


def test_environment_secret_refused(tmp_path):
    with pytest.raises(ComposeError, match="only file-based secrets"):
        body(tmp_path, "secrets: [t]", "secrets:\n  t: {environment: HOME}\n")


def test_label_file_env_file_raw_and_mac_address(tmp_path):
    (tmp_path / "l.env").write_text("a=from-file\nb=x\n")
    (tmp_path / "raw.env").write_text("Q=\"kept $as is\"\n")
    b = body(tmp_path, "label_file: l.env\nlabels: {b: y}\n"
                       "env_file: [{path: raw.env, format: raw}]\n"
                       "mac_address: '02:42:ac:11:00:02'")
    assert b["Labels"]["a"] == "from-file" and b["Labels"]["b"] == "y"
    assert b["Env"] == ['Q="kept $as is"']
    assert b["MacAddress"] == "02:42:ac:11:00:02"


@pytest.mark.parametrize("extra,path", [
    ("secrets:\n  t: {file: ./t, template_driver: golang}\n", "secrets.t.template_driver"),
    ("secrets:\n  t: {file: ./t, name: n}\n", "secrets.t.name"),
])
def test_secret_keys_that_need_swarm_are_refused(tmp_path, extra, path):
    with pytest.raises(ComposeError, match="is not supported by hako compose") as ei:
        body(tmp_path, "secrets: [t]", extra)
    assert ei.value.path == path


def test_network_ipv6_flag(tmp_path):
    p = load(tmp_path, "services:\n  a: {image: busybox, networks: [n]}\n"
                       "networks:\n  n: {enable_ipv6: true}\n")
    assert convert.network_body(p, "n")["EnableIPv6"] is True
