#!/usr/bin/env bash
# shellcheck disable=SC2119
# aws-profiles.sh - profiles that assume a role or use IAM Identity Center
# (docs/credentials.md, "Assumed roles", "SSO"): the SigV4 proxy in front
# of kinesalite is also STS and the SSO portal (tests/aws/sigv4-proxy.js
# --sts --sso): it checks the signature of every
# AssumeRole and of every Kinesis call against its table of keys, answers
# AssumeRole with credentials derived from the role, the signing key and
# the external id, and counts the calls of each key.  For each profile
# form, a mount with -o profile=P must list the streams signed with the
# key the role gives, its AssumeRole signed with the right source key:
#   - source_profile with static keys; a chain of two roles; a profile
#     that is its own source_profile; credential_source = Environment
#     (the environment's keys, put aside for the profile named);
#   - external_id, role_session_name and duration_seconds as sent;
#   - STS found through the profile's services section (sts endpoint_url)
#     as well as AWS_ENDPOINT_URL_STS;
#   - refused at mount with a clear line: mfa_serial without the aws
#     CLI's cached credentials (then used once cached), both
#     source_profile and credential_source, a cycle of source profiles;
#   - SSO: sso_session and the legacy sso_start_url form, with the token
#     cached where `aws sso login` caches it, and a role assumed from an
#     SSO profile; an expired token, one the portal refuses and none
#     cached are refused at mount with a line saying to run aws sso login.
KFS_BACKEND=aws
# shellcheck source=functions.sh
. "$(dirname "$0")/functions.sh"

kfs_setup
kfs_profiles
echo '{"tok-corp-0001": true, "tok-legacy-001": true, "tok-old-00001": true}' >"$tmp/tokens.json"
kfs_helper_start sts sigv4-proxy.js --upstream "$kinesalite_url" --keys "$tmp/keys.json" \
    --sts --sso "$tmp/tokens.json" --region "$kfs_region" --service kinesis --stats "$tmp/sts.stats"
kfs_endpoint=http://127.0.0.1:$helper_port
sts_url=$kfs_endpoint
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

cat >>"$AWS_CONFIG_FILE" <<EOF
[profile ext]
role_arn = $acct:role/ext
source_profile = base
external_id = xid-42
role_session_name = nightly-etl
duration_seconds = 900

[profile svc]
role_arn = $acct:role/svc
source_profile = base
services = local-sts

[services local-sts]
sts =
  endpoint_url = $sts_url

[profile both]
role_arn = $acct:role/both
source_profile = base
credential_source = Environment

[profile c1]
role_arn = $acct:role/c1
source_profile = c2

[profile c2]
role_arn = $acct:role/c2
source_profile = c1

[profile ops]
role_arn = $acct:role/ops
source_profile = dev

[profile stale]
sso_session = old
sso_account_id = 111122223333
sso_role_name = Developer

[sso-session old]
sso_start_url = https://old.awsapps.com/start
sso_region = $kfs_region

[profile revoked]
sso_session = revoked
sso_account_id = 111122223333
sso_role_name = Developer

[sso-session revoked]
sso_start_url = https://revoked.awsapps.com/start
sso_region = $kfs_region

[profile nocache]
sso_session = nocache
sso_account_id = 111122223333
sso_role_name = Developer

[sso-session nocache]
sso_start_url = https://nocache.awsapps.com/start
sso_region = $kfs_region
EOF

# key ROLE SOURCE [EXTERNAL_ID]: the access key id STS gives for that role
# assumed with that source key.
key()
{
    node -e 'const c = require("crypto");
             console.log("ASIA" + c.createHash("sha256").update(process.argv[1])
                 .digest("hex").slice(0, 16).toUpperCase())' "$acct:role/$1|$2|${3:-}"
}
stat_of() { json_stat "$tmp/sts.stats" "$1"; }

# uses PROFILE KEY: a mount with -o profile=PROFILE lists the streams
# signed with KEY.
uses()
{
    local before
    before=$(stat_of "keys.$2")
    kfs_mount "profile=$1"
    ls "$mnt" >/dev/null || fail "profile $1: ls of the mount failed"
    kfs_umount
    [ "$(stat_of "keys.$2")" -gt "$before" ] ||
        fail "profile $1: no call signed with $2: $(cat "$tmp/sts.stats")"
    msg "profile $1: signed with $2"
}

export AWS_ENDPOINT_URL_STS=$sts_url
r1=$(key r1 AKIDBASE00000001)
uses r1 "$r1"
uses r2 "$(key r2 "$r1")"
uses self "$(key self AKIDSELF00000001)"
AWS_ACCESS_KEY_ID=AKIDENV000000001 AWS_SECRET_ACCESS_KEY=env-secret-00001 \
    uses envsrc "$(key env AKIDENV000000001)"
uses ext "$(key ext AKIDBASE00000001 xid-42)"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1]));
         const a = s.assumed.filter((x) => x.role.endsWith("role/ext"));
         if (!a.length || a.some((x) => x.session !== "nightly-etl" || x.duration !== 900 || x.external_id !== "xid-42"))
           { console.error(JSON.stringify(a)); process.exit(1) }' "$tmp/sts.stats" ||
    fail "profile ext: external_id, role_session_name or duration_seconds not sent as given"
unset AWS_ENDPOINT_URL_STS
uses svc "$(key svc AKIDBASE00000001)"
export AWS_ENDPOINT_URL_STS=$sts_url

# Refused, each with its line: the mount fails and says why.
expect_log "^kinesisfs: (error: AWS credentials from (assume-role|sso)|cannot open the aws backend)"
expect_log "needs an MFA code|has both source_profile and credential_source|makes a cycle"
kfs_mount_fails profile=mfa 1 "needs an MFA code \(mfa_serial\).*aws sts get-caller-identity --profile mfa"
kfs_mount_fails profile=both 1 "has both source_profile and credential_source"
kfs_mount_fails profile=c1 1 "source_profile 'c[12]' makes a cycle"
msg "profiles mfa (no cached credentials), both, c1 (a cycle): refused, each with its line"

# The aws CLI's cache of the MFA role's credentials (its file named by the
# SHA-1 of the call's arguments, as the CLI names it) is used while valid.
export HOME=$tmp/home
mkdir -p "$HOME/.aws/cli/cache"
node -e '
const fs = require("fs"), c = require("crypto")
const [keys, dir, role, mfa] = process.argv.slice(1)
// json.dumps({"RoleArn": ..., "SerialNumber": ...}, sort_keys=True)
const args = `{"RoleArn": "${role}", "SerialNumber": "${mfa}"}`
const name = c.createHash("sha1").update(args).digest("hex")
const exp = new Date(Date.now() + 3600e3).toISOString().replace(/\.\d+Z$/, "+00:00")
fs.writeFileSync(`${dir}/${name}.json`, JSON.stringify({Credentials: {AccessKeyId: "ASIACACHEDMFA001",
  SecretAccessKey: "cached-secret-01", SessionToken: "cached-token", Expiration: exp},
  AssumedRoleUser: {AssumedRoleId: "AROA:x", Arn: role + "/x"}}))
const t = JSON.parse(fs.readFileSync(keys))
t.ASIACACHEDMFA001 = {secret: "cached-secret-01", token: "cached-token"}
fs.writeFileSync(keys, JSON.stringify(t))' "$tmp/keys.json" "$HOME/.aws/cli/cache" "$acct:role/mfa" "$acct:mfa/operator"
uses mfa ASIACACHEDMFA001

# ---- SSO ------------------------------------------------------------------
# token NAME TOKEN SECONDS: a token cached as `aws sso login` caches it, in
# ~/.aws/sso/cache/<SHA-1 of the session name or start URL>.json, valid for
# SECONDS (negative: expired).
token()
{
    node -e '
const fs = require("fs"), c = require("crypto")
const [dir, name, tok, secs] = process.argv.slice(1)
const at = new Date(Date.now() + Number(secs) * 1000).toISOString().replace(/\.\d+Z$/, "Z")
fs.writeFileSync(`${dir}/${c.createHash("sha1").update(name).digest("hex")}.json`,
  JSON.stringify({startUrl: "https://x.awsapps.com/start", region: "us-east-1", accessToken: tok,
    expiresAt: at, clientId: "cid", clientSecret: "csecret", refreshToken: "rt"}))' \
        "$HOME/.aws/sso/cache" "$1" "$2" "$3"
}
mkdir -p "$HOME/.aws/sso/cache"
export AWS_ENDPOINT_URL_SSO=$sts_url
token corp tok-corp-0001 3600
token https://legacy.awsapps.com/start tok-legacy-001 3600
token old tok-old-00001 -60
token revoked tok-revoked-01 3600
# sso_key ACCOUNT ROLE: the access key id the portal gives for that role.
sso_key()
{
    node -e 'const c = require("crypto");
             console.log("ASIA" + c.createHash("sha256").update(process.argv[1])
                 .digest("hex").slice(0, 16).toUpperCase())' "sso|$1|$2"
}
dev=$(sso_key 111122223333 Developer)
uses dev "$dev"
uses legacy "$(sso_key 111122223333 ReadOnly)"
uses ops "$(key ops "$dev")"
expect_log "SSO token expired|SSO portal refused the token|no SSO token cached"
kfs_mount_fails profile=stale 1 "the SSO token expired: run .aws sso login --sso-session old."
kfs_mount_fails profile=revoked 1 "the SSO portal refused the token \(HTTP 401\): run .aws sso login --sso-session revoked."
kfs_mount_fails profile=nocache 1 "no SSO token cached .*: run .aws sso login --sso-session nocache."
msg "SSO: sso_session, legacy and a role from SSO signed with their keys; expired, refused and missing tokens refused with their lines"

# ---- refreshed before they expire ------------------------------------------
# A second proxy gives credentials that live 6 s (and refuses them after):
# a writer that fsyncs a line every 0.2 s for 12 s never notices, and the
# role was assumed again in the background.
kfs_helper_start sts2 sigv4-proxy.js --upstream "$kinesalite_url" --keys "$tmp/keys.json" \
    --sts --sts-life 6 --region "$kfs_region" --service kinesis --stats "$tmp/sts2.stats"
kfs_endpoint=http://127.0.0.1:$helper_port
export AWS_ENDPOINT_URL_STS=$kfs_endpoint
kfs_mount profile=r1
mkdir "$mnt/refresh"
python3 - "$mnt/refresh/k" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
for i in range(60):
    os.write(fd, b"line %d\n" % i)
    os.fsync(fd)
    time.sleep(0.2)
os.close(fd)
PY
settle "$mnt/refresh/k"
assert_eq "$(grep -c '^line ' "$mnt/refresh/k")" 60 "lines written while the role's credentials were refreshed"
kfs_umount
assumed=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).assumed.length)' "$tmp/sts2.stats")
[ "$assumed" -ge 3 ] || fail "the role was assumed $assumed times in 12 s of 6-s credentials"
[ "$(json_stat "$tmp/sts2.stats" mismatches)" = 0 ] || fail "calls with expired credentials: $(cat "$tmp/sts2.stats")"
msg "credentials living 6 s: assumed $assumed times in the background, 60 fsyncs never noticed"
msg "all profile forms signed with the role's key; refusals said why"
