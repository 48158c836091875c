import pytest

from hako.errors import InvalidArgument
from hako.oci import reference

D = "sha256:" + "a" * 64

# input, full normalized (with default tag), familiar
CASES = [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x"),
    ("index.docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
    ("foo/bar:v1", "docker.io/foo/bar:v1", "foo/bar:v1"),
    ("localhost/foo", "localhost/foo:latest", "localhost/foo:latest"),
    ("localhost:5000/x:y", "localhost:5000/x:y", "localhost:5000/x:y"),
    ("localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag"),
    ("quay.io/a/b/c", "quay.io/a/b/c:latest", "quay.io/a/b/c:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    ("a_b/c-d.e__f", "docker.io/a_b/c-d.e__f:latest", "a_b/c-d.e__f:latest"),
    ("UPPER.example.com/x", "UPPER.example.com/x:latest", "UPPER.example.com/x:latest"),
]


@pytest.mark.parametrize("text,full,familiar", CASES)
def test_normalize(text, full, familiar):
    ref = reference.parse_normalized(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize("text,message", [
    ("", "invalid reference format"),
    (":x", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("bus box", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name must be lowercase"),
    ("foo/Bar:v1", "invalid reference format: repository name must be lowercase"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
])
def test_invalid(text, message):
    with pytest.raises(InvalidArgument) as exc:
        reference.parse(text)
    assert message in str(exc.value)


def test_no_default_tag_without_normalized():
    assert reference.parse("busybox").tag == ""
    assert reference.parse(f"busybox@{D}").with_default_tag().tag == ""


def test_tag_validation():
    assert reference.validate_tag("v1.0_rc-2") == "v1.0_rc-2"
    with pytest.raises(InvalidArgument):
        reference.validate_tag(".bad")
