#!/usr/bin/env bash
# shellcheck disable=SC2119
# aws-cli-profiles.sh - for every profile form, the aws CLI (Debian's
# awscli) and kinesisfs, given the same config files, sign their Kinesis
# calls with the same access key id (docs/credentials.md).  The test runs
# in mount and network namespaces of its own: /etc/hosts sends the AWS
# names of STS (sts.us-east-1.amazonaws.com) and of the SSO portal
# (portal.sso.us-east-1.amazonaws.com) to 127.0.0.1, where
# tests/aws/tls-proxy.js takes TLS on port 443 with a certificate of a CA
# made here (AWS_CA_BUNDLE for both clients) in front of
# tests/aws/sigv4-proxy.js --sts --sso, which checks every signature and
# derives each role's key from the role, the signing key and the external
# id: two clients that assume the same role from the same source get the
# same key.  Both clients find STS and the portal the way the service
# publishes them (the regional endpoint), as the CLI 2.9 of Debian 12 knows
# no AWS_ENDPOINT_URL_STS.  Forms: source_profile with keys, a chain, a
# profile that is its own source, credential_source Environment,
# external_id with duration_seconds, mfa_serial (the CLI asks for the code
# and caches the role's credentials, which kinesisfs then uses), SSO with
# sso_session and the legacy form, a role from an SSO profile (of the
# legacy form: the CLI 2.9 fails on a role whose source profile uses an
# sso_session, "'NoneType' object has no attribute 'get_frozen_token'";
# aws-profiles.sh tests kinesisfs with that one).
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

if [ -z "${KFS_CLI_NS:-}" ]; then
    requires_fuse
    requires unshare --version
    requires ip -V
    export KFS_CLI_NS=$$
    rc=0
    unshare -m -n --propagation private bash "$0" "$@" || rc=$?
    exit "$rc"
fi
ip link set lo up

kfs_setup
requires openssl version
pki=$tmp/pki
mkdir "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kinesisfs test CA" \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>>"$pki/openssl.log" &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=sts.us-east-1.amazonaws.com" \
        -keyout "$pki/aws.key" -out "$pki/aws.csr" 2>>"$pki/openssl.log" &&
    printf 'subjectAltName=DNS:sts.us-east-1.amazonaws.com,DNS:sts.amazonaws.com,DNS:portal.sso.us-east-1.amazonaws.com\n' \
        >"$pki/san.ext" &&
    openssl x509 -req -in "$pki/aws.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
        -CAcreateserial -days 2 -extfile "$pki/san.ext" -out "$pki/aws.pem" 2>>"$pki/openssl.log" ||
    error "openssl: $(cat "$pki/openssl.log")"
printf '127.0.0.1 localhost sts.us-east-1.amazonaws.com sts.amazonaws.com portal.sso.us-east-1.amazonaws.com\n' \
    >"$tmp/hosts"
mount --bind "$tmp/hosts" /etc/hosts

kfs_profiles
echo '{"tok-corp-0001": true, "tok-legacy-001": true}' >"$tmp/tokens.json"
kfs_helper_start sts sigv4-proxy.js --upstream "$kinesalite_url" --keys "$tmp/keys.json" \
    --sts --sso "$tmp/tokens.json" --region "$kfs_region" --service kinesis --stats "$tmp/sts.stats"
kfs_endpoint=http://127.0.0.1:$helper_port
kfs_helper_start tls tls-proxy.js --upstream-port "$helper_port" --port 443 \
    --cert "$pki/aws.pem" --key "$pki/aws.key"
export AWS_CA_BUNDLE=$pki/ca.pem AWS_DEFAULT_REGION=$kfs_region HOME=$tmp/home
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
mkdir -p "$HOME/.aws/sso/cache"

cat >>"$AWS_CONFIG_FILE" <<EOF
[profile ext]
role_arn = $acct:role/ext
source_profile = base
external_id = xid-42
duration_seconds = 1800
region = $kfs_region

[profile ops]
role_arn = $acct:role/ops
source_profile = legacy
region = $kfs_region
EOF
# The tokens `aws sso login` would have cached.
node -e '
const fs = require("fs"), c = require("crypto")
const [dir, ...pairs] = process.argv.slice(1)
const at = new Date(Date.now() + 3600e3).toISOString().replace(/\.\d+Z$/, "Z")
for (let i = 0; i < pairs.length; i += 2)
  fs.writeFileSync(`${dir}/${c.createHash("sha1").update(pairs[i]).digest("hex")}.json`,
    JSON.stringify({startUrl: "https://corp.awsapps.com/start", region: "us-east-1",
      accessToken: pairs[i + 1], expiresAt: at}))' \
    "$HOME/.aws/sso/cache" corp tok-corp-0001 https://legacy.awsapps.com/start tok-legacy-001

# signer: the one key whose count of Kinesis calls grew since the last
# call of signer (the proxy's stats).
node -e 'console.log("{}")' >"$tmp/seen.json"
signer()
{
    node -e '
const fs = require("fs")
const [stats, seen] = process.argv.slice(1)
const now = JSON.parse(fs.readFileSync(stats)).kinesis_keys
const was = JSON.parse(fs.readFileSync(seen))
const grew = Object.keys(now).filter((k) => now[k] > (was[k] || 0))
fs.writeFileSync(seen, JSON.stringify(now))
console.log(grew.length === 1 ? grew[0] : `none or many: ${grew.join(",")}`)' "$tmp/sts.stats" "$tmp/seen.json"
}

# same PROFILE [CLI STDIN]: the aws CLI's list-streams, then a mount's
# listing, with that profile: the same key signs both, not a source key.
same()
{
    local profile=$1 cli kfs
    "$KFS_AWS_CLI" --profile "$profile" --endpoint-url "$kfs_endpoint" \
        kinesis list-streams <<<"${2:-}" >"$tmp/cli.out" 2>"$tmp/cli.err" ||
        fail "profile $profile: the aws CLI failed: $(cat "$tmp/cli.err")"
    cli=$(signer)
    kfs_mount "profile=$profile"
    ls "$mnt" >/dev/null || fail "profile $profile: ls of the mount failed"
    kfs_umount
    kfs=$(signer)
    [[ $cli == ASIA* ]] || fail "profile $profile: the aws CLI signed with $cli"
    assert_eq "$kfs" "$cli" "profile $profile: the key kinesisfs signed with"
    msg "profile $profile: the aws CLI and kinesisfs both signed with $cli"
}

same r1
same r2
same self
AWS_ACCESS_KEY_ID=AKIDENV000000001 AWS_SECRET_ACCESS_KEY=env-secret-00001 same envsrc
same ext
same mfa 123456
same dev
same legacy
same ops
[ "$(json_stat "$tmp/sts.stats" mismatches)" = 0 ] || fail "signatures refused: $(cat "$tmp/sts.stats")"
msg "9 profile forms: the aws CLI and kinesisfs sign with the same key"
