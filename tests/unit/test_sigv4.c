/*
 * test_sigv4.c - requests leave signed as AWS publishes it.
 *
 * A loopback HTTP server thread captures what the real libcurl client
 * (backend/aws/http_curl.c) sends.  Two checks, independent of each other:
 *
 *  - vectors of the AWS SigV4 test suite (credentials AKIDEXAMPLE, region
 *    us-east-1, service "service", 20150830T123600Z) are sent through the
 *    client with their date fixed by an X-Amz-Date header (libcurl 7.88
 *    signs with a caller's X-Amz-Date), and the Authorization header that
 *    arrives must be the published one;
 *  - a signer written here from the SigV4 description (OpenSSL HMAC), first
 *    checked against the same published vectors, recomputes the signature
 *    of real Kinesis calls made through kfs_aws_call with the clock's date,
 *    a session token and bodies up to 5 MiB (over 1 MiB libcurl adds an
 *    unsigned "Expect: 100-continue"), and checks that every signed header
 *    was sent, once, and that the body that arrived is the one signed.
 *
 * The same server also checks what the client does with an answer too
 * large to take.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/aws/client.h"
#include "backend/aws/http.h"
#include "tap.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define VDATE "20150830T123600Z"
#define STS_TOKEN \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWH" \
	"GBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1" \
	"NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQc" \
	"HNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPO" \
	"Ln9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define SCOPE "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"

/* ---- the capturing server ------------------------------------------------ */

#define MAX_HDRS 64

/* One request as it arrived. */
struct captured {
	char method[16];
	char path[256];
	char *hdr[MAX_HDRS];     /* "Name: value" lines, as sent */
	size_t n_hdr;
	char *body;
	size_t body_len;
	int saw_continue;        /* the client asked for 100 Continue */
};

static struct {
	pthread_mutex_t lock;    /* protects last */
	struct captured last;    /* the latest request; protected by lock */
	const char *answer;      /* what to answer instead of 200 {}, or NULL;
				  * protected by lock */
	int served;              /* requests answered; protected by lock */
	int fd;                  /* listening socket */
	int port;
	pthread_t thread;
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void captured_clear(struct captured *c)
{
	for (size_t i = 0; i < c->n_hdr; i++)
		free(c->hdr[i]);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

static const char *cap_header(const struct captured *c, const char *name,
			      int *count)
{
	const char *found = NULL;
	size_t n = strlen(name);

	*count = 0;
	for (size_t i = 0; i < c->n_hdr; i++) {
		if (strncasecmp(c->hdr[i], name, n) == 0 && c->hdr[i][n] == ':') {
			if (!found)
				found = c->hdr[i] + n + 1;
			(*count)++;
		}
	}
	while (found && (*found == ' ' || *found == '\t'))
		found++;
	return found;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve_one(int fd)
{
	struct captured c = { 0 };
	char *buf = NULL, *end = NULL, *line;
	size_t len = 0, cap = 0, need;
	long clen = 0;
	int count;
	const char *v, *answer;

	while (!end) {
		ssize_t r;
		if (len + 4097 > cap) {
			cap = cap ? 2 * cap : 8192;
			buf = realloc(buf, cap);
			REQUIRE(buf);
		}
		r = read(fd, buf + len, 4096);
		if (r <= 0)
			goto out;
		len += (size_t)r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	*end = '\0';
	line = strtok(buf, "\r\n");
	if (!line || sscanf(line, "%15s %255s", c.method, c.path) != 2)
		goto out;
	while ((line = strtok(NULL, "\r\n")) && c.n_hdr < MAX_HDRS)
		c.hdr[c.n_hdr++] = strdup(line);
	v = cap_header(&c, "Content-Length", &count);
	clen = v ? atol(v) : 0;
	v = cap_header(&c, "Expect", &count);
	if (v && strcasecmp(v, "100-continue") == 0) {
		c.saw_continue = 1;
		write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	/* What followed the head in the same reads is body. */
	need = (size_t)clen;
	c.body = malloc(need + 1);
	REQUIRE(c.body);
	{
		size_t have = len - (size_t)(end + 4 - buf);
		if (have > need)
			have = need;
		memcpy(c.body, end + 4, have);
		c.body_len = have;
	}
	while (c.body_len < need) {
		ssize_t r = read(fd, c.body + c.body_len, need - c.body_len);
		if (r <= 0)
			goto out;
		c.body_len += (size_t)r;
	}
	c.body[c.body_len] = '\0';
	pthread_mutex_lock(&srv.lock);
	captured_clear(&srv.last);
	srv.last = c;
	memset(&c, 0, sizeof(c));
	answer = srv.answer;
	srv.served++;
	pthread_mutex_unlock(&srv.lock);
	if (answer) {
		write_all(fd, answer, strlen(answer));
	} else {
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: "
			"application/x-amz-json-1.1\r\nContent-Length: 2\r\n"
			"Connection: close\r\n\r\n{}";
		write_all(fd, ok, sizeof(ok) - 1);
	}
out:
	captured_clear(&c);
	free(buf);
}

static void *server_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(srv.fd, NULL, NULL);
		if (fd < 0)
			break;
		serve_one(fd);
		close(fd);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(srv.fd >= 0);
	REQUIRE(bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(listen(srv.fd, 8) == 0);
	REQUIRE(getsockname(srv.fd, (struct sockaddr *)&sa, &sl) == 0);
	srv.port = ntohs(sa.sin_port);
	REQUIRE(pthread_create(&srv.thread, NULL, server_main, NULL) == 0);
}

static void server_stop(void)
{
	shutdown(srv.fd, SHUT_RDWR);
	close(srv.fd);
	pthread_join(srv.thread, NULL);
	captured_clear(&srv.last);
}

/* Takes the last captured request (the caller clears it). */
static struct captured take(void)
{
	struct captured c;

	pthread_mutex_lock(&srv.lock);
	c = srv.last;
	memset(&srv.last, 0, sizeof(srv.last));
	pthread_mutex_unlock(&srv.lock);
	return c;
}

/* ---- a SigV4 signer from the description, for checking ------------------ */

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int olen = 32;
	REQUIRE(HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		     strlen(msg), out, &olen));
}

/* One header of a request, for signing. */
struct ref_hdr {
	const char *name;
	const char *value;
};

static int hdr_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct ref_hdr *)a)->name,
			  ((const struct ref_hdr *)b)->name);
}

/* Trims a header value and squeezes its inner blanks into one space. */
static void trim_value(const char *v, char *out)
{
	char *w = out;

	while (*v == ' ' || *v == '\t')
		v++;
	while (*v) {
		if (*v == ' ' || *v == '\t') {
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v)
				*w++ = ' ';
			continue;
		}
		*w++ = *v++;
	}
	*w = '\0';
}

/*
 * The signature (hex) of a request: method, path (no query), the headers to
 * sign (each once), the body.  Writes the SignedHeaders list too.
 */
static void ref_sign(const char *method, const char *path, struct ref_hdr *h,
		     size_t n, const void *body, size_t body_len, const char *date,
		     const char *region, const char *service, const char *secret,
		     char sig_hex[65], char *signed_list)
{
	unsigned char d[32], k1[32], k2[32], k3[32], k4[32];
	char body_hex[65], creq_hex[65], key[128], day[9];
	size_t cap = 1 << 16, len = 0;
	char *creq = malloc(cap), *sts;

	REQUIRE(creq);
	qsort(h, n, sizeof(*h), hdr_cmp);
	len += (size_t)snprintf(creq + len, cap - len, "%s\n%s\n\n", method, path);
	signed_list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char lname[64], val[4096] = "";
		size_t j;
		for (j = 0; h[i].name[j] && j < sizeof(lname) - 1; j++)
			lname[j] = (char)tolower((unsigned char)h[i].name[j]);
		lname[j] = '\0';
		trim_value(h[i].value, val);
		len += (size_t)snprintf(creq + len, cap - len, "%s:%s\n", lname, val);
		strcat(signed_list, i ? ";" : "");
		strcat(signed_list, lname);
	}
	SHA256(body, body_len, d);
	hex(d, 32, body_hex);
	len += (size_t)snprintf(creq + len, cap - len, "\n%s\n%s", signed_list, body_hex);
	REQUIRE(len < cap);
	SHA256((unsigned char *)creq, len, d);
	hex(d, 32, creq_hex);
	memcpy(day, date, 8);
	day[8] = '\0';
	REQUIRE(asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
			 date, day, region, service, creq_hex) > 0);
	snprintf(key, sizeof(key), "AWS4%s", secret);
	hmac(key, strlen(key), day, k1);
	hmac(k1, 32, region, k2);
	hmac(k2, 32, service, k3);
	hmac(k3, 32, "aws4_request", k4);
	hmac(k4, 32, sts, d);
	hex(d, 32, sig_hex);
	free(sts);
	free(creq);
}

/* Set while a check is expected to refuse: it says nothing then. */
static int verify_quiet;

/*
 * Checks a captured request's Authorization against a signature recomputed
 * from what arrived.  Returns 1 when it verifies; prints why not.
 */
static int verify(const struct captured *c, const char *region,
		  const char *service, const char *akid, const char *secret)
{
	struct ref_hdr h[MAX_HDRS];
	char list[1024], sig[65], want_list[1024], want_sig[65] = "", cred[256];
	char *copy, *name;
	const char *auth, *date;
	int count, ok = 1;
	size_t n = 0;

	auth = cap_header(c, "Authorization", &count);
	date = cap_header(c, "X-Amz-Date", &count);
	if (!auth || !date || count != 1) {
		printf("#   no Authorization, or not one X-Amz-Date (%d)\n", count);
		return 0;
	}
	if (sscanf(auth, "AWS4-HMAC-SHA256 Credential=%255[^,], SignedHeaders=%1023[^,], "
		   "Signature=%64s", cred, want_list, want_sig) != 3) {
		printf("#   unparsable Authorization\n");
		return 0;
	}
	copy = strdup(want_list);
	for (name = strtok(copy, ";"); name; name = strtok(NULL, ";")) {
		const char *v = cap_header(c, name, &count);
		if (!v || count != 1) {
			/* Signed but not sent (the "Expect:" trap), or sent
			 * twice: the service would refuse it. */
			printf("#   signed header %s sent %d time(s)\n", name, count);
			ok = 0;
			continue;
		}
		h[n].name = name;
		h[n].value = v;
		n++;
	}
	ref_sign(c->method, c->path, h, n, c->body, c->body_len, date, region,
		 service, secret, sig, list);
	free(copy);
	if (strcmp(list, want_list) != 0 || strcmp(sig, want_sig) != 0) {
		if (!verify_quiet)
			printf("#   signature %s over %s, recomputed %s over %s\n",
			       want_sig, want_list, sig, list);
		ok = 0;
	}
	{
		char want_cred[256], day[9];
		memcpy(day, date, 8);
		day[8] = '\0';
		snprintf(want_cred, sizeof(want_cred), "%s/%s/%s/%s/aws4_request",
			 akid, day, region, service);
		if (strcmp(cred, want_cred) != 0) {
			printf("#   credential scope %s, expected %s\n", cred, want_cred);
			ok = 0;
		}
	}
	return ok;
}

/* ---- the published vectors ----------------------------------------------- */

struct vector {
	const char *name;
	const char *method;
	const char *extra_header;   /* one more header, or NULL */
	const char *body;
	const char *token;          /* session token, or NULL */
	const char *authz;          /* the published Authorization */
};

static const struct vector vectors[] = {
	{ "get-vanilla", "GET", NULL, "", NULL,
	  "AWS4-HMAC-SHA256 " SCOPE ", SignedHeaders=host;x-amz-date, "
	  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "post-vanilla", "POST", NULL, "", NULL,
	  "AWS4-HMAC-SHA256 " SCOPE ", SignedHeaders=host;x-amz-date, "
	  "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-header-value-case", "POST", "My-Header1: VALUE1", "", NULL,
	  "AWS4-HMAC-SHA256 " SCOPE ", SignedHeaders=host;my-header1;x-amz-date, "
	  "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d" },
	{ "post-x-www-form-urlencoded", "POST",
	  "Content-Type: application/x-www-form-urlencoded", "Param1=value1", NULL,
	  "AWS4-HMAC-SHA256 " SCOPE ", SignedHeaders=content-type;host;x-amz-date, "
	  "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
	{ "post-sts-header-before", "POST", NULL, "", STS_TOKEN,
	  "AWS4-HMAC-SHA256 " SCOPE ", SignedHeaders=host;x-amz-date;x-amz-security-token, "
	  "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
};

/* The checking signer itself gives the published signatures. */
TEST(reference_signer_matches_vectors)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct ref_hdr h[4];
		char sig[65], list[256], hname[64], authz[512];
		size_t n = 0;

		h[n++] = (struct ref_hdr){ "Host", "example.amazonaws.com" };
		h[n++] = (struct ref_hdr){ "X-Amz-Date", VDATE };
		if (v->extra_header) {
			snprintf(hname, sizeof(hname), "%.*s",
				 (int)strcspn(v->extra_header, ":"), v->extra_header);
			h[n++] = (struct ref_hdr){ hname, strchr(v->extra_header, ':') + 1 };
		}
		if (v->token)
			h[n++] = (struct ref_hdr){ "X-Amz-Security-Token", v->token };
		ref_sign(v->method, "/", h, n, v->body, strlen(v->body), VDATE,
			 "us-east-1", "service", SECRET, sig, list);
		snprintf(authz, sizeof(authz), "AWS4-HMAC-SHA256 " SCOPE
			 ", SignedHeaders=%s, Signature=%s", list, sig);
		CHECK_EQ_STR(authz, v->authz);
	}
}

/* libcurl, through http_curl.c, signs the vectors as published. */
TEST(curl_signs_vectors)
{
	struct kfs_http *http;
	char url[64];

	REQUIRE(kfs_http_curl_new(&http) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct kfs_http_sigv4 sig = {
			.region = "us-east-1", .service = "service",
			.access_key_id = AKID, .secret_access_key = SECRET,
			.session_token = v->token,
		};
		const char *hdrs[] = { "Host: example.amazonaws.com",
				       "X-Amz-Date: " VDATE, v->extra_header, NULL };
		struct kfs_http_request req = {
			.method = v->method, .url = url, .headers = hdrs,
			.body = v->body, .body_len = strlen(v->body), .sign = &sig,
		};
		struct kfs_http_response resp;
		struct captured c;
		int count;
		const char *authz;

		CHECK_EQ_INT(kfs_http_send(http, &req, &resp), 0);
		CHECK_EQ_INT(resp.status, 200);
		CHECK_EQ_STR(resp.body, "{}");
		kfs_http_response_clear(&resp);
		c = take();
		authz = cap_header(&c, "Authorization", &count);
		if (!authz || strcmp(authz, v->authz) != 0) {
			printf("#   %s: got %s\n", v->name, authz ? authz : "(none)");
			tap_cur_failed = 1;
		}
		CHECK_EQ_STR(c.method, v->method);
		CHECK_EQ_INT(c.body_len, strlen(v->body));
		if (v->token)
			CHECK_EQ_STR(cap_header(&c, "X-Amz-Security-Token", &count),
				     v->token);
		captured_clear(&c);
	}
	kfs_http_free(http);
}

/* ---- real Kinesis calls, checked by the recomputing signer ----------------- */

static int fixed_get(void *ctx, struct kfs_aws_creds *out)
{
	(void)ctx;
	memset(out, 0, sizeof(*out));
	out->access_key_id = strdup("ASIAEXAMPLEKEY");
	out->secret_access_key = strdup("s3cr3t/Key+With/Slashes");
	out->session_token = strdup("IQoJb3JpZ2luX2VjEPT//////////token==");
	return 0;
}

static void fixed_invalidate(void *ctx)
{
	(void)ctx;
}

static void kinesis_call_of(size_t body_bytes, int want_continue)
{
	struct kfs_aws_client c = {
		.creds = { fixed_get, fixed_invalidate, NULL },
		.region = "eu-west-3",
		.max_attempts = 1, .backoff_ms = 1, .backoff_cap_ms = 1,
	};
	struct kfs_aws_error e;
	struct captured cap;
	char url[64], *blob;
	cJSON *req, *resp = NULL;
	int count;

	REQUIRE(kfs_http_curl_new(&c.http) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	c.url = url;
	blob = malloc(body_bytes + 1);
	REQUIRE(blob);
	memset(blob, 'A', body_bytes);
	blob[body_bytes] = '\0';
	req = cJSON_CreateObject();
	REQUIRE(req && cJSON_AddStringToObject(req, "StreamName", "S") &&
		cJSON_AddStringToObject(req, "Blob", blob));
	CHECK_EQ_INT(kfs_aws_call(&c, "PutRecords", req, KFS_CALL_ONCE, &resp, &e), 0);
	cJSON_Delete(resp);
	cap = take();
	CHECK(verify(&cap, "eu-west-3", "kinesis", "ASIAEXAMPLEKEY",
		     "s3cr3t/Key+With/Slashes"));
	/* The checker is not blind: one byte changed, or another secret,
	 * and it refuses. */
	verify_quiet = 1;
	if (cap.body_len > 20) {
		cap.body[cap.body_len / 2] ^= 1;
		CHECK(!verify(&cap, "eu-west-3", "kinesis", "ASIAEXAMPLEKEY",
			      "s3cr3t/Key+With/Slashes"));
		cap.body[cap.body_len / 2] ^= 1;
	}
	CHECK(!verify(&cap, "eu-west-3", "kinesis", "ASIAEXAMPLEKEY", "other"));
	verify_quiet = 0;
	CHECK_EQ_STR(cap_header(&cap, "X-Amz-Target", &count),
		     "Kinesis_20131202.PutRecords");
	CHECK_EQ_STR(cap_header(&cap, "Content-Type", &count),
		     "application/x-amz-json-1.1");
	CHECK_EQ_INT(cap.saw_continue, want_continue);
	{
		char *printed = cJSON_PrintUnformatted(req);
		CHECK_EQ_INT(cap.body_len, strlen(printed));
		CHECK(memcmp(cap.body, printed, cap.body_len) == 0);
		free(printed);
	}
	/* The token is sent and signed. */
	{
		const char *auth = cap_header(&cap, "Authorization", &count);
		CHECK(auth && strstr(auth, "x-amz-security-token") != NULL);
		CHECK(auth && strstr(auth, "x-amz-target") != NULL);
		CHECK(auth && strstr(auth, "expect") == NULL);
	}
	cJSON_Delete(req);
	free(blob);
	captured_clear(&cap);
	kfs_http_free(c.http);
}

TEST(kinesis_call_small)
{
	kinesis_call_of(100, 0);
}

TEST(kinesis_call_5mib)
{
	/* A full PutRecords batch: 5 MiB of data is ~6.7 MB of base64. */
	kinesis_call_of(7u << 20, 1);
}

/* An empty header would be signed and not sent: refused before sending. */
TEST(empty_header_refused)
{
	struct kfs_http *http;
	struct kfs_http_sigv4 sig = { "us-east-1", "kinesis", AKID, SECRET, NULL };
	const char *hdrs[] = { "Content-Type: application/x-amz-json-1.1", "Expect:", NULL };
	const char *hdrs2[] = { "X-Amz-Target:   ", NULL };
	char url[64];
	struct kfs_http_request req = { .method = "POST", .url = url,
					.headers = hdrs, .body = "{}", .body_len = 2,
					.sign = &sig };
	struct kfs_http_response resp;
	struct captured c;

	REQUIRE(kfs_http_curl_new(&http) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	CHECK_EQ_INT(kfs_http_send(http, &req, &resp), -EINVAL);
	kfs_http_response_clear(&resp);
	req.headers = hdrs2;
	CHECK_EQ_INT(kfs_http_send(http, &req, &resp), -EINVAL);
	kfs_http_response_clear(&resp);
	c = take();
	CHECK(c.method[0] == '\0'); /* nothing arrived */
	captured_clear(&c);
	kfs_http_free(http);
}

/* Nobody listening: an error saying so, not an answer. */
TEST(connection_refused)
{
	struct kfs_http *http;
	struct kfs_http_request req = { .method = "GET" };
	struct kfs_http_response resp;
	char url[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	/* A port that was free a moment ago. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	req.url = url;
	REQUIRE(kfs_http_curl_new(&http) == 0);
	rc = kfs_http_send(http, &req, &resp);
	CHECK_EQ_INT(rc, -ECONNREFUSED);
	CHECK(resp.error[0] != '\0');
	CHECK_EQ_INT(resp.sent, 0);
	kfs_http_response_clear(&resp);
	kfs_http_free(http);
}

/* An answer whose Content-Length passes KFS_HTTP_BODY_MAX is refused from
 * its head, none of its body taken: EMSGSIZE, which the client tells the
 * backend is to ask for less (KFS_AWS_TOO_LARGE), not to retry. */
TEST(answer_too_large)
{
	struct kfs_aws_client c = {
		.creds = { fixed_get, fixed_invalidate, NULL },
		.region = "us-east-1",
		.max_attempts = 3, .backoff_ms = 1, .backoff_cap_ms = 1,
	};
	struct kfs_http_request req = { .method = "POST", .body = "{}",
					.body_len = 2 };
	struct kfs_http_response resp;
	struct kfs_aws_error e;
	struct captured cap;
	char url[64];
	cJSON *body = cJSON_CreateObject(), *out = NULL;
	int served;

	REQUIRE(body);
	REQUIRE(kfs_http_curl_new(&c.http) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	c.url = url;
	req.url = url;
	pthread_mutex_lock(&srv.lock);
	srv.answer = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1"
		     "\r\nContent-Length: 67108865\r\nConnection: close\r\n\r\n"
		     "{\"Records\":[";
	pthread_mutex_unlock(&srv.lock);
	CHECK_EQ_INT(kfs_http_send(c.http, &req, &resp), -EMSGSIZE);
	CHECK(strstr(resp.error, "larger than 67108864") != NULL);
	CHECK(resp.body == NULL);
	CHECK_EQ_INT(resp.sent, 1);
	kfs_http_response_clear(&resp);
	cap = take();
	captured_clear(&cap);
	pthread_mutex_lock(&srv.lock);
	served = srv.served;
	pthread_mutex_unlock(&srv.lock);
	CHECK_EQ_INT(kfs_aws_call(&c, "GetRecords", body, 0, &out, &e), -EIO);
	CHECK(out == NULL);
	CHECK_EQ_INT(e.retry, KFS_AWS_TOO_LARGE);
	cap = take();
	captured_clear(&cap);
	pthread_mutex_lock(&srv.lock);
	CHECK_EQ_INT(srv.served - served, 1);  /* not retried */
	srv.answer = NULL;
	pthread_mutex_unlock(&srv.lock);
	cJSON_Delete(body);
	kfs_http_free(c.http);
}

int main(void)
{
	server_start();
	RUN(reference_signer_matches_vectors);
	RUN(curl_signs_vectors);
	RUN(kinesis_call_small);
	RUN(kinesis_call_5mib);
	RUN(empty_header_refused);
	RUN(connection_refused);
	RUN(answer_too_large);
	server_stop();
	return tap_done();
}
