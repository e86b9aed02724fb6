#!/bin/sh
# Generate the throw-away PKI the TLS integration tests use, into directory $1
# (created if missing).  Nothing here is committed: test_tls.py runs this
# once per test session into a tmp dir.
#
#   ca.pem ca.key                 test CA ("wsbridge test CA")
#   server.pem server.key         CN 127.0.0.1, SAN IP:127.0.0.1 DNS:localhost
#   combined.pem                  server.pem + server.key in one file
#   server-enc.key                server.key encrypted, password "testpass"
#   server2.pem server2.key       CN wsbridge-test-2, same SANs (reload test)
#   client.pem client.key         client cert CN alice, signed by the CA
#   rogue-ca.pem rogue-ca.key     a second CA nobody trusts
#   rogue-client.pem .key         client cert CN mallory, from the rogue CA
#   expired.pem expired.key       server cert valid 2020-01-01..2020-01-02
#   wronghost.pem wronghost.key   CN/SAN wrong.example only
#
# Uses only the openssl command (OpenSSL 3.0 is enough: the expired cert is
# made with `openssl ca -startdate/-enddate`, which 3.0 has; `x509
# -not_before` only came in 3.4).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
mkdir -p "$out"
cd "$out"

OPENSSL=${OPENSSL:-openssl}
days=3650

# A private scratch dir for the CA database and extension files.
work=$(mktemp -d "${TMPDIR:-/tmp}/gen_certs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

newkey() {
	# EC P-256: fast to generate, accepted by every TLS 1.2/1.3 client.
	$OPENSSL genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
	chmod 600 "$1"
}

# ca NAME CN: a self-signed CA certificate NAME.pem with key NAME.key.
ca() {
	newkey "$1.key"
	cat >"$work/$1.ext" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $2
O = wsbridge tests
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
	$OPENSSL req -new -x509 -key "$1.key" -out "$1.pem" -days $days \
	    -config "$work/$1.ext" -extensions v3_ca -sha256 \
	    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
}

# leaf NAME CN KIND SANS CA [SERIAL]: NAME.pem/NAME.key signed by CA.pem.
# KIND is server or client.
leaf() {
	name=$1 cn=$2 kind=$3 sans=$4 signer=$5
	serial=${6:-"0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"}
	newkey "$name.key"
	if [ "$kind" = server ]; then
		eku=serverAuth
	else
		eku=clientAuth
	fi
	{
		echo "basicConstraints = critical, CA:false"
		echo "keyUsage = critical, digitalSignature, keyEncipherment"
		echo "extendedKeyUsage = $eku"
		echo "subjectKeyIdentifier = hash"
		echo "authorityKeyIdentifier = keyid"
		if [ -n "$sans" ]; then
			echo "subjectAltName = $sans"
		fi
	} >"$work/$name.ext"
	$OPENSSL req -new -key "$name.key" -subj "/CN=$cn/O=wsbridge tests" \
	    -out "$work/$name.csr"
	$OPENSSL x509 -req -in "$work/$name.csr" -CA "$signer.pem" \
	    -CAkey "$signer.key" -set_serial "$serial" -days $days -sha256 \
	    -extfile "$work/$name.ext" -out "$name.pem" 2>/dev/null
}

ca ca "wsbridge test CA"
ca rogue-ca "rogue test CA"

leaf server 127.0.0.1 server "IP:127.0.0.1, DNS:localhost" ca 0x1001
leaf server2 wsbridge-test-2 server "IP:127.0.0.1, DNS:localhost" ca 0x1002
leaf wronghost wrong.example server "DNS:wrong.example" ca 0x1003
leaf client alice client "" ca 0x1004
leaf rogue-client mallory client "" rogue-ca 0x1005

cat server.pem server.key >combined.pem
chmod 600 combined.pem

$OPENSSL pkey -in server.key -aes256 -passout pass:testpass \
    -out server-enc.key
chmod 600 server-enc.key

# The expired certificate: `openssl ca` takes explicit validity dates.
newkey expired.key
mkdir -p "$work/ca"
: >"$work/ca/index.txt"
echo 1006 >"$work/ca/serial"
cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
dir = $work/ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $PWD/ca.pem
private_key = $PWD/ca.key
default_md = sha256
policy = any
email_in_dn = no
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
organizationName = optional
[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOF
$OPENSSL req -new -key expired.key -subj "/CN=127.0.0.1/O=wsbridge tests" \
    -out "$work/expired.csr"
$OPENSSL ca -batch -notext -config "$work/ca.cnf" -in "$work/expired.csr" \
    -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z \
    2>/dev/null

# Self-check: every leaf verifies against its CA (the expired one only
# with the time check off), and each key matches its certificate.
for n in server server2 wronghost client; do
	$OPENSSL verify -CAfile ca.pem "$n.pem" >/dev/null
done
$OPENSSL verify -CAfile rogue-ca.pem rogue-client.pem >/dev/null
$OPENSSL verify -CAfile ca.pem -no_check_time expired.pem >/dev/null
if $OPENSSL verify -CAfile ca.pem expired.pem >/dev/null 2>&1; then
	echo "$0: expired.pem is not expired" >&2
	exit 1
fi
for n in server server2 wronghost client rogue-client expired; do
	a=$($OPENSSL x509 -in "$n.pem" -noout -pubkey)
	b=$($OPENSSL pkey -in "$n.key" -pubout)
	if [ "$a" != "$b" ]; then
		echo "$0: $n.key does not match $n.pem" >&2
		exit 1
	fi
done
