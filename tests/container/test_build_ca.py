"""The CA a build trusts for pip (an intercepting proxy's, passed as a BuildKit secret) is used by the build and
never kept in an image. A certificate of the test's own (the canary) is added to the bundle the build passes, and
the images are built again with every layer (BUILD_NO_CACHE), so the secret is certainly mounted: on every machine,
with or without a proxy CA of its own. The canary must then be in no file of the images and in no line of their
history."""

import datetime
import os
import subprocess
import tarfile
import uuid

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.containers import docker
from tests.support.repo import REPO, load_script

IMAGES = load_script("images").IMAGES
CANARY_KEYS = ("train-cpu", "serve")
LARGEST_FILE_SEARCHED = 50 * 1024 * 1024  # the CUDA-free images hold no larger file but shared libraries
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")  # scripts/build-images.sh's order


def _canary_certificate():
    """A self-signed CA certificate (PEM) whose key is thrown away: trusting it lets nothing through."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"headlines build canary {uuid.uuid4().hex}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _trusted_bundle():
    """What pip in the build would trust without the canary: the host's bundle as the build script picks it, else
    certifi's (pip's own)."""
    for variable in CA_VARIABLES:
        if os.path.isfile(os.environ.get(variable, "")):
            return open(os.environ[variable], encoding="ascii", errors="ignore").read()
    return open(certifi.where(), encoding="ascii").read()


@pytest.fixture(scope="module")
def canary_images(docker_engine, tmp_path_factory):
    """{key: image} built from nothing with the canary in the CA secret; the canary's base64 lines."""
    folder = tmp_path_factory.mktemp("canary")
    canary = _canary_certificate()
    bundle = folder / "bundle.pem"
    bundle.write_text(_trusted_bundle().rstrip("\n") + "\n" + canary)
    prefix = f"canary-{uuid.uuid4().hex[:8]}"
    environment = {**os.environ, "IMAGE_PREFIX": prefix, "PIP_CERT": str(bundle), "BUILD_NO_CACHE": "1"}
    subprocess.run([str(REPO / "scripts" / "build-images.sh"), *CANARY_KEYS], env=environment, check=True)
    images = {key: IMAGES[key].local(prefix) for key in CANARY_KEYS}
    # Whole 64-character base64 lines: unique to this certificate (a short last line could be anywhere).
    markers = [line.encode() for line in canary.splitlines() if len(line) == 64]
    assert len(markers) >= 3
    yield images, markers
    docker("image", "rm", *images.values(), check=False)


@pytest.mark.parametrize("key", CANARY_KEYS)
def test_the_build_ca_is_in_no_file_and_no_history_line_of_the_image(canary_images, key, tmp_path):
    images, markers = canary_images
    container = docker("create", images[key]).stdout.strip()
    try:
        export = tmp_path / "rootfs.tar"
        docker("export", "-o", str(export), container)
    finally:
        docker("rm", container, check=False)
    searched = 0
    with tarfile.open(export) as archive:
        for member in archive:
            if member.isfile() and member.size < LARGEST_FILE_SEARCHED:
                content = archive.extractfile(member).read()
                assert not any(marker in content for marker in markers), f"the build CA is in {member.name}"
                searched += 1
    assert searched > 1000, searched  # the image's files were read, not an empty export
    history = docker("history", "--no-trunc", images[key]).stdout
    assert not any(marker.decode() in history for marker in markers)
