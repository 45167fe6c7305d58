"""Signed results: the province's test CA (generated into the var dir, never committed) signs result documents.

A result carries a detached CMS (PKCS#7) signature made with the result-signing certificate issued by the CA;
verification checks the certificate chain to the CA and the signature over the document's bytes.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from tinhso.settings import get_settings

_lock = threading.Lock()
_cache: dict[str, Signer] = {}


@dataclass(frozen=True)
class Signer:
    ca_cert: x509.Certificate
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Nghệ An"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "UBND tỉnh Nghệ An (thử nghiệm)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _generate(folder: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Nghe An Province TEST CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("He thong giai quyet TTHC tinh Nghe An (TEST)"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (folder / "signer.pem").write_bytes(cert.public_bytes(pem))
    key_file = folder / "signer.key"
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)


def signer() -> Signer:
    """The result signer, creating the test CA in TINHSO_VAR_DIR on first use."""
    folder = get_settings().var_dir / "procedures" / "ca"
    with _lock:
        if not (folder / "signer.key").exists():
            _generate(folder)
            _cache.clear()
        cached = _cache.get(str(folder))
        if cached is not None:
            return cached
    ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((folder / "signer.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / "signer.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    _cache[str(folder)] = Signer(ca_cert, cert, key)
    return _cache[str(folder)]


def sign(data: bytes) -> tuple[str, str]:
    """A detached CMS signature (DER, base64) over `data`, and the signer certificate (PEM)."""
    s = signer()
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(s.cert, s.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    # A raw ECDSA signature alongside lets any holder of the certificate verify without a CMS parser.
    raw = s.key.sign(data, ec.ECDSA(hashes.SHA256()))
    bundle = base64.b64encode(der).decode() + "." + base64.b64encode(raw).decode()
    return bundle, s.cert.public_bytes(serialization.Encoding.PEM).decode()


def verify(data: bytes, signature: str, certificate_pem: str) -> bool:
    """True when the certificate was issued by the province CA and the signature covers exactly `data`."""
    try:
        _cms, raw_b64 = signature.split(".", 1)
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        cert.verify_directly_issued_by(signer().ca_cert)
        public = cert.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(base64.b64decode(raw_b64), data, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError, TypeError, AssertionError):
        return False


def cms_der(signature: str) -> bytes:
    return base64.b64decode(signature.split(".", 1)[0])


def qr_svg(url: str) -> str:
    """An SVG QR code of `url` (no image library needed)."""
    import io

    import qrcode
    import qrcode.image.svg

    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode()
