"""hakod on tcp:// with TLS (--tlsverify): the docker CLI with a client certificate gets in,
one without is refused."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

pytestmark = pytest.mark.integration


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d: str) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's docs do."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=hako-test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext",
                 cwd=d)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tlsverify_with_docker_cli(fresh_hakod, docker_cli, tmp_path):
    certs = str(tmp_path)
    make_certs(certs)
    port = _free_port()
    d = fresh_hakod()
    d.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", f"{certs}/ca.pem",
                    "--tlscert", f"{certs}/server-cert.pem", "--tlskey", f"{certs}/server-key.pem")
    d.start()
    env = dict(d.env)
    env.pop("DOCKER_HOST")
    base = [docker_cli, "-H", f"tcp://127.0.0.1:{port}"]
    tls = ["--tlsverify", "--tlscacert", f"{certs}/ca.pem", "--tlscert", f"{certs}/client-cert.pem",
           "--tlskey", f"{certs}/client-key.pem"]
    res = subprocess.run(base + tls + ["version", "--format", "{{.Server.APIVersion}}"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1.41"
    res = subprocess.run(base + ["--tlsverify", "--tlscacert", f"{certs}/ca.pem", "version"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode != 0  # no client certificate: the handshake is refused
    res = subprocess.run(base + ["version"], capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode != 0  # plain HTTP to a TLS port


def test_cp_over_tls(fresh_hakod, docker_cli, tmp_path):
    """A TLS connection cannot hand its socket to the cp helper: the daemon relays the body."""
    from tests.daemon_harness import import_busybox

    certs = str(tmp_path)
    make_certs(certs)
    port = _free_port()
    d = fresh_hakod()
    d.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", f"{certs}/ca.pem",
                    "--tlscert", f"{certs}/server-cert.pem", "--tlskey", f"{certs}/server-key.pem")
    d.start()
    import_busybox(d)
    env = dict(d.env)
    env.pop("DOCKER_HOST")
    cli = [docker_cli, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
           f"{certs}/ca.pem", "--tlscert", f"{certs}/client-cert.pem", "--tlskey",
           f"{certs}/client-key.pem"]
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(3 << 20)
    (src / "blob").write_bytes(data)

    def run(*args: str) -> None:
        res = subprocess.run(cli + list(args), capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 0, res.stderr

    run("create", "--name", "tlscp", "busybox", "true")
    run("cp", str(src), "tlscp:/copied")
    run("cp", "tlscp:/copied/blob", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data


def test_tls_without_certificate_is_a_clear_error(fresh_hakod):
    d = fresh_hakod()
    d.extra_args = ("--tlsverify",)
    with pytest.raises(RuntimeError, match="need --tlscert and --tlskey"):
        d.start(timeout=10)
