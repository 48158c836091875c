import json

import pytest

from hako.errors import InvalidArgument
from hako.oci import manifest, mediatypes as mt
from hako.oci.digest import Digest
from hako.oci.imageconfig import chain_ids, parse_config

CFG = Digest.from_bytes(b"config")
L1 = Digest.from_bytes(b"layer1")
L2 = Digest.from_bytes(b"layer2")


def docker_manifest():
    return json.dumps({
        "schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": 6, "digest": str(CFG)},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "size": 10, "digest": str(L1)}],
    }).encode()


def test_parse_docker_manifest_and_normalize():
    doc = manifest.parse(docker_manifest())
    assert isinstance(doc, manifest.Manifest)
    assert doc.config.digest == CFG and doc.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    oci = manifest.normalize(doc)
    assert oci.media_type == mt.OCI_MANIFEST and oci.layers[0].media_type == mt.OCI_LAYER_GZIP
    again = manifest.parse(oci.serialize())
    assert again == oci


def test_parse_index_with_platforms():
    data = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": str(L1), "size": 1,
         "platform": {"os": "linux", "architecture": "amd64"},
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}).encode()
    doc = manifest.parse(data)
    assert isinstance(doc, manifest.Index)
    assert doc.manifests[0].platform["architecture"] == "amd64"
    assert doc.manifests[0].annotations["org.opencontainers.image.ref.name"] == "latest"


@pytest.mark.parametrize("data", [b"not json", b"[]", b'{"schemaVersion": 1}',
                                  b'{"schemaVersion": 2}',
                                  b'{"schemaVersion": 2, "config": {"digest": "x"}}'])
def test_invalid(data):
    with pytest.raises(InvalidArgument):
        manifest.parse(data)


def test_chain_ids():
    chain = chain_ids([L1, L2])
    assert chain[0] == L1
    assert chain[1] == Digest.from_bytes(f"{L1} {L2}".encode())
    assert chain_ids([]) == []


def test_parse_config_checks_diff_ids():
    ok = json.dumps({"rootfs": {"type": "layers", "diff_ids": [str(L1)]}}).encode()
    assert parse_config(ok)["rootfs"]["diff_ids"] == [str(L1)]
    with pytest.raises(InvalidArgument):
        parse_config(b'{"rootfs": {"type": "layers", "diff_ids": ["nope"]}}')
