#!/usr/bin/env bash
# aws-tls.sh - the AWS backend over HTTPS (docs/aws.md, "TLS"): kinesalite
# behind tests/aws/tls-proxy.js, with a certificate from a CA made here.
#   - the system's CAs (/etc/ssl/certs/ca-certificates.crt, Debian's
#     ca-certificates, which ./quickstart installs: the test is an error
#     without it) do not know it: the mount refuses to talk (EIO to the
#     caller, one log line naming the certificate problem), nothing is
#     stored;
#   - a CA bundle of another CA, and a certificate for another host name,
#     are refused the same way;
#   - the system's store with the test CA added, as an administrator adds
#     a private CA, and no ca_bundle nor AWS_CA_BUNDLE: the seed scenario
#     works over TLS (the test runs in a mount namespace of its own, where
#     a copy of the system's bundle with the test CA is bound over it);
#   - -o ca_bundle=FILE, and AWS_CA_BUNDLE, make it work: mkdir, echo, cat,
#     and the aws CLI reads the record from kinesalite;
#   - -o ca_bundle naming a file that is not there fails the mount with a
#     clear message.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

if [ -z "${KFS_TLS_NS:-}" ]; then
    requires_fuse
    requires unshare --version
    # A mount namespace of its own, for the bind over the system's bundle.
    export KFS_TLS_NS=$$
    rc=0
    unshare -m --propagation private bash "$0" "$@" || rc=$?
    exit "$rc"
fi

# The store libcurl reads when nothing names another; OpenSSL's own
# variables would name another.
sys_bundle=/etc/ssl/certs/ca-certificates.crt
unset SSL_CERT_FILE SSL_CERT_DIR
grep -q -e '-----BEGIN CERTIFICATE-----' "$sys_bundle" 2>/dev/null ||
    error "$sys_bundle is missing or holds no certificate: the system has no CA store, ca-certificates is missing (apt-get install ca-certificates; ./quickstart installs it)"

kfs_setup
requires openssl
pki=$tmp/pki
mkdir "$pki"
make_ca ca
make_ca other-ca
make_cert loopback ca "IP:127.0.0.1,DNS:localhost"
make_cert elsewhere ca "DNS:elsewhere.example"
kinesalite_port=${kinesalite_url##*:}

# start_tls NAME CERT: a TLS front with CERT; sets $tls_port.
start_tls()
{
    kfs_helper_start "$1" tls-proxy.js --upstream-port "$kinesalite_port" \
        --cert "$pki/$2.pem" --key "$pki/$2.key"
    tls_port=$helper_port
}
start_tls tls loopback
good_port=$tls_port
start_tls tls-elsewhere elsewhere
elsewhere_port=$tls_port

# refused NAME REASON: mkdir of stream NAME fails with EIO and a log line
# giving curl's REASON (an ERE), and kinesalite has no such stream.
refused()
{
    log_mark
    expect_probe EIO mkdir "$mnt/$1"
    grep -q -E "$1: SSL.*$2" <<<"$(_kfs_log_new -i)" ||
        fail "mkdir $1: no log line gives the TLS failure ($2): $(_kfs_log_new -i)"
    # curl's reason at info, then the failed call.
    expect_logged -i 2 2 "$1" "mkdir $1 refused over TLS"
    if awsk describe-stream-summary --stream-name "$1" >/dev/null 2>&1; then
        fail "stream $1 was made although TLS was refused"
    fi
}

# ---- no CA bundle: the system's CAs do not know the test CA --------------
kfs_endpoint=https://127.0.0.1:$good_port
# At mount, the endpoint check (one ListStreams) fails with the endpoint
# and the reason; -o no_endpoint_check mounts, and every call fails.
expect_log '^kinesisfs: cannot open the aws backend: Input/output error$'
kfs_mount_fails "" 1 "^kinesisfs: error: cannot use Kinesis at https://127\.0\.0\.1:$good_port/ \(region [a-z0-9-]+\): ListStreams: SSL certificate problem: unable to get local issuer certificate \(Input/output error\)\$"
kfs_mount no_endpoint_check
refused untrusted 'unable to get local issuer certificate'
kfs_umount

# ---- another CA's bundle --------------------------------------------------
kfs_mount "no_endpoint_check,ca_bundle=$pki/other-ca.pem"
refused otherca 'unable to get local issuer certificate'
kfs_umount

# ---- the right CA, a certificate for another name -------------------------
kfs_endpoint=https://127.0.0.1:$elsewhere_port
kfs_mount "no_endpoint_check,ca_bundle=$pki/ca.pem"
refused wrongname 'no alternative certificate subject name matches'
kfs_umount

# ---- the system's store, the test CA added --------------------------------
# No ca_bundle, no AWS_CA_BUNDLE: what libcurl trusts by default.  Here
# only, in this test's mount namespace.
cat "$sys_bundle" "$pki/ca.pem" >"$pki/system-and-ca.crt"
mount --bind "$pki/system-and-ca.crt" "$sys_bundle"
kfs_endpoint=https://127.0.0.1:$good_port
kfs_mount
if grep -q "TLS: trusting the CA bundle" "$kfs_log"; then
    fail "the mount names a CA bundle of its own: $(cat "$kfs_log")"
fi
# The seed scenario.
mkdir "$mnt/AWSCookbook701"
wait_for 10 "the stream is ACTIVE" \
    sh -c "[ \"\$(getfattr -n user.kinesis.status --only-values '$mnt/AWSCookbook701')\" = ACTIVE ]"
echo '{"Data":"1"}' >>"$mnt/AWSCookbook701/111"
assert_eq "$(cat "$mnt/AWSCookbook701/shardId-000000000000")" '{"Data":"1"}' \
    "the record read over TLS trusted through the system's store"
aws_read_stream raw AWSCookbook701 "$tmp/cli"
assert_eq "$(cat "$tmp/cli")" '{"Data":"1"}' "the record as the aws CLI reads it"
kfs_umount
umount "$sys_bundle"

# ---- -o ca_bundle ---------------------------------------------------------
kfs_endpoint=https://127.0.0.1:$good_port
kfs_mount "ca_bundle=$pki/ca.pem"
grep -q "TLS: trusting the CA bundle $pki/ca.pem" "$kfs_log" ||
    fail "the log does not name the CA bundle in use"
mkdir "$mnt/tls"
wait_for 10 "the stream is ACTIVE" \
    sh -c "[ \"\$(getfattr -n user.kinesis.status --only-values '$mnt/tls')\" = ACTIVE ]"
echo '{"Data":"1"}' >>"$mnt/tls/111"
assert_reads "$mnt/tls/111" '{"Data":"1"}' "the record read over TLS"
aws_read_stream raw tls "$tmp/cli"
assert_reads "$tmp/cli" '{"Data":"1"}' "the record as the aws CLI reads it"
kfs_umount

# ---- AWS_CA_BUNDLE --------------------------------------------------------
export AWS_CA_BUNDLE=$pki/ca.pem
kfs_mount
echo '{"Data":"2"}' >>"$mnt/tls/111"
assert_eq "$(tail -n 1 "$mnt/tls/111")" '{"Data":"2"}' "the record put with AWS_CA_BUNDLE"
kfs_umount
unset AWS_CA_BUNDLE

# ---- a CA bundle that is not there ---------------------------------------
kfs_mount_fails "ca_bundle=$pki/missing.pem" 1 \
    "^kinesisfs: -o ca_bundle=$pki/missing.pem: No such file or directory\$"
