"""run/create flags → the Engine API create body (cli/runconfig.py)."""

import pytest

from hako.cli.parsing import Parser
from hako.cli.runconfig import add_run_flags, build_create_body
from hako.errors import InvalidArgument


def body(argv, detach=False, environ=None):
    p = Parser("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    add_run_flags(p)
    opts, args = p.parse(argv)
    return build_create_body(opts, args[0], args[1:], environ or {}, detach=detach)


def test_defaults_like_docker():
    b = body(["busybox"])
    assert b["Image"] == "busybox" and b["Cmd"] is None and b["Entrypoint"] is None
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, True, True)
    assert b["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert b["HostConfig"]["NetworkMode"] == "default"


def test_interactive_and_detach():
    b = body(["-i", "-t", "busybox", "sh"])
    assert b["OpenStdin"] and b["StdinOnce"] and b["AttachStdin"] and b["Tty"]
    b = body(["-i", "busybox"], detach=True)
    assert b["OpenStdin"] and not b["AttachStdin"] and not b["StdinOnce"]
    assert not b["AttachStdout"]


def test_resources_and_security():
    hc = body(["-m", "512m", "--memory-swap", "-1", "-c", "512", "--cpus", "1.5",
               "--cpuset-cpus", "0", "--pids-limit", "10", "--ulimit", "nofile=10:20",
               "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--privileged", "--read-only",
               "--security-opt", "no-new-privileges", "--init", "--shm-size", "64m",
               "--oom-kill-disable", "--group-add", "10", "busybox"])["HostConfig"]
    assert hc["Memory"] == 512 * 1024**2 and hc["MemorySwap"] == -1
    assert hc["CpuShares"] == 512 and hc["NanoCpus"] == 1_500_000_000
    assert hc["CpusetCpus"] == "0" and hc["PidsLimit"] == 10
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["ALL"]
    assert hc["Privileged"] and hc["ReadonlyRootfs"] and hc["Init"] is True
    assert hc["SecurityOpt"] == ["no-new-privileges"] and hc["ShmSize"] == 64 * 1024**2
    assert hc["OomKillDisable"] and hc["GroupAdd"] == ["10"]


def test_env_labels_and_process():
    b = body(["-e", "A=1", "-e", "HOME_X", "-e", "UNSET", "-l", "k=v", "-w", "/tmp",
              "-u", "nobody", "-h", "box", "--entrypoint", "echo", "--stop-signal", "SIGINT",
              "--stop-timeout", "3", "busybox", "hi"], environ={"HOME_X": "h"})
    assert b["Env"] == ["A=1", "HOME_X=h"]
    assert b["Labels"] == {"k": "v"}
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/tmp", "nobody", "box")
    assert b["Entrypoint"] == ["echo"] and b["Cmd"] == ["hi"]
    assert b["StopSignal"] == "SIGINT" and b["StopTimeout"] == 3


def test_ports_volumes_mounts_links():
    b = body(["-p", "127.0.0.1:8080:80", "--expose", "53/udp", "-P", "-v", "/src:/dst:ro",
              "-v", "/anon", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
              "--tmpfs", "/run:size=1m", "--link", "db:db", "--volumes-from", "data",
              "--restart", "on-failure:3", "--log-driver", "json-file", "--log-opt",
              "max-size=1m", "busybox"])
    hc = b["HostConfig"]
    assert b["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert hc["PublishAllPorts"] and hc["Binds"] == ["/src:/dst:ro"]
    assert b["Volumes"] == {"/anon": {}}
    assert hc["Mounts"][0]["Type"] == "tmpfs" and hc["Mounts"][0]["TmpfsOptions"] == {
        "SizeBytes": 1024**2}
    assert hc["Tmpfs"] == {"/run": "size=1m"}
    assert hc["Links"] == ["db:db"] and hc["VolumesFrom"] == ["data"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}


def test_rm_with_detach_is_autoremove_and_conflicts_with_restart():
    assert body(["--rm", "busybox"], detach=True)["HostConfig"]["AutoRemove"] is True
    with pytest.raises(InvalidArgument, match="cannot specify both --restart and --rm"):
        body(["--rm", "--restart", "always", "busybox"])


def test_attach_flag_selects_streams():
    b = body(["-a", "stderr", "busybox"])
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, True)


def test_log_opts_with_the_none_driver_are_refused_like_docker():
    with pytest.raises(InvalidArgument, match="^invalid logging opts for driver none$"):
        body(["--log-driver", "none", "--log-opt", "max-size=1m", "busybox"])
    assert body(["--log-driver", "none", "busybox"])["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}
def test_network_flags_make_the_endpoint_as_the_docker_cli():
    b = body(["--network", "net1", "--network-alias", "db", "--link", "up:bar", "--ip", "10.1.0.9",
              "--ip6", "fd68::9", "--link-local-ip", "169.254.1.1", "--mac-address", "02:42:0a:01:00:09",
              "busybox"])
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"net1": {
        "Aliases": ["db"], "Links": ["up:bar"],
        "IPAMConfig": {"IPv4Address": "10.1.0.9", "IPv6Address": "fd68::9", "LinkLocalIPs": ["169.254.1.1"]}}}}
    assert b["MacAddress"] == "02:42:0a:01:00:09" and b["HostConfig"]["Links"] == ["up:bar"]
    legacy = body(["--link", "up:bar", "busybox"])  # the default bridge: a legacy link only
    assert legacy["NetworkingConfig"] == {"EndpointsConfig": {}} and legacy["HostConfig"]["Links"] == ["up:bar"]
    with pytest.raises(InvalidArgument, match="network-scoped aliases are only supported"):
        body(["--network-alias", "db", "busybox"])


def test_network_long_syntax_gives_the_endpoint_settings():
    b = body(["--network", "name=epnet,alias=Web,ip=10.216.15.9,link-local-ip=169.254.1.1,"
              "driver-opt=com.example.k=V,mac-address=02:42:0a:d8:0f:99", "busybox"])
    assert b["HostConfig"]["NetworkMode"] == "epnet"
    # every field lowercased, as the docker CLI does
    assert b["NetworkingConfig"] == {"EndpointsConfig": {"epnet": {
        "Aliases": ["web"], "MacAddress": "02:42:0a:d8:0f:99", "DriverOpts": {"com.example.k": "v"},
        "IPAMConfig": {"IPv4Address": "10.216.15.9", "LinkLocalIPs": ["169.254.1.1"]}}}}
    assert body(["--network", "mynet", "busybox"])["HostConfig"]["NetworkMode"] == "mynet"
    assert body(["--network", "container:abc", "busybox"])["HostConfig"]["NetworkMode"] == "container:abc"


@pytest.mark.parametrize("flags,message", [
    (["--network", "name=n,ip=10.0.0.2", "--ip", "10.0.0.3"],
     "conflicting options: cannot specify both --ip and per-network IPv4 address"),
    (["--network", "name=n,alias=a", "--network-alias", "b"],
     "conflicting options: cannot specify both --network-alias and per-network alias"),
    (["--network", "name=n,link-local-ip=169.254.1.1", "--link-local-ip", "169.254.1.2"],
     "conflicting options: cannot specify both --link-local-ip and per-network link-local IP addresses"),
])
def test_network_long_syntax_conflicts(flags, message):
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        body([*flags, "busybox"])


@pytest.mark.parametrize("value,message", [
    ("name=n,foo=bar", "invalid field key foo"),
    ("alias=a", "network name/id is not specified"),
    ("name=n,driver-opt=x", "invalid key value pair format in driver options"),
])
def test_network_long_syntax_refused_at_parse(value, message):
    from hako.cli.runextra import parse_network

    with pytest.raises(ValueError, match=f"^{message}$"):
        parse_network(value)
