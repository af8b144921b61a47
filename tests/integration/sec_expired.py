#!/usr/bin/python3
"""An expired server certificate for tests/integration/security.sh (openssl 3.0's command line
cannot back-date one): EC P-256 leaf for IP, signed by the CA, valid from 30 to 10 days ago.

  sec_expired.py CA_CRT CA_KEY OUT_CRT OUT_KEY IP
"""
import datetime
import ipaddress
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ca_crt, ca_key, out_crt, out_key, ip = sys.argv[1:6]
ca = x509.load_pem_x509_certificate(open(ca_crt, 'rb').read())
cak = serialization.load_pem_private_key(open(ca_key, 'rb').read(), None)
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'expired')]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(now - datetime.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                       critical=False)
        .sign(cak, hashes.SHA256()))
open(out_crt, 'wb').write(cert.public_bytes(serialization.Encoding.PEM) + open(ca_crt, 'rb').read())
open(out_key, 'wb').write(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
