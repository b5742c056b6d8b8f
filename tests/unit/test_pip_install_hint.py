"""The image builds' pip step names the fix when a TLS certificate cannot be checked, and only then."""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "requirements" / "pip-install.sh"
# A stand-in for pip that fails as pip does, writing its message to the --log file it is given.
FAKE_PIP = """#!/bin/sh
while [ "$1" != "--log" ]; do shift; done
echo "$FAILURE" >"$2"
echo "ERROR: could not install" >&2
exit 1
"""
CERTIFICATE_FAILURE = (
    "Could not fetch URL https://pypi.org/simple/jupyterhub/: There was a problem confirming the ssl certificate: "
    "HTTPSConnectionPool(host='pypi.org', port=443): (Caused by SSLError(SSLCertVerificationError(1, "
    "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain')))"
)


def install_with_failing_pip(tmp_path: Path, failure: str) -> subprocess.CompletedProcess:
    (tmp_path / "pip").write_text(FAKE_PIP)
    (tmp_path / "pip").chmod(0o755)
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", "FAILURE": failure}
    return subprocess.run(["sh", SCRIPT, "lock.txt"], env=environment, capture_output=True, text=True, check=False)


def test_a_certificate_failure_names_extra_ca_certs(tmp_path):
    result = install_with_failing_pip(tmp_path, CERTIFICATE_FAILURE)
    assert result.returncode == 1
    assert "cp /etc/ssl/certs/ca-certificates.crt extra-ca-certs/extra-ca-bundle.crt" in result.stderr
    assert "make images EXTRA_CA_CERTS=" in result.stderr


def test_another_failure_keeps_pips_own_message_alone(tmp_path):
    result = install_with_failing_pip(tmp_path, "No matching distribution found for jupyterhub==99")
    assert result.returncode == 1
    assert result.stderr == "ERROR: could not install\n"
