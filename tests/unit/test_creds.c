/*
 * test_creds.c - the AWS credentials sources and their chain.
 *
 * Each HTTP source talks to a loopback fake of its endpoint: a server
 * thread on 127.0.0.1 (ephemeral port) that answers a script of steps
 * (expected method, path, headers and body parts -> status and body) in
 * order, records any request that does not match the next step, and at the
 * end the test checks that every step was used and nothing unexpected
 * came.  A step can be held: its answer waits until the test lets it go,
 * so that the test knows a fetch is under way for as long as it likes.
 * Shared files live in a mkdtemp directory; credential_process runs
 * small shell commands.
 *
 * Time is a test clock (testclock.h) that stands at T0 until a test moves
 * it: expiries are exact, and the chain's background refresh happens when
 * the test advances the clock to it, not before.  Only credential_process
 * timeouts run on real time: they bound a real child process.
 *
 * Every secret and token used here contains "sEcReT" (in that case);
 * everything the code logs (at debug level) goes to a file that must never
 * contain it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/aws/creds.h"
#include "backend/aws/sts.h"
#include "lib/log.h"
#include "lib/util.h"
#include "tap.h"
#include "testclock.h"

/* 2026-01-01T00:00:00Z: whole seconds, as STS gives expiries. */
#define T0 1767225600000LL

static char dir[64];
static struct test_clock tclk;     /* the clock of every source and chain */
#define CLK (&tclk.clock)

/* ---- the loopback fake ------------------------------------------------ */

#define FAKE_STEPS 16
#define FAKE_NEEDS 6

struct step {
	char method[8];
	char path[256];
	char need[FAKE_NEEDS][512];  /* "Name: value" header, or "body~text" */
	int status;
	char body[4096];
	int held;                    /* the answer waits until fake_release */
	int64_t served_at_ms;        /* test clock time its request came */
};

struct fake {
	int lfd;                     /* listening socket */
	int port;
	int stop[2];                 /* a byte here stops the thread */
	pthread_t th;
	pthread_mutex_t lock;        /* protects everything below */
	pthread_cond_t cond;         /* a step was used or let go */
	struct step steps[FAKE_STEPS];
	size_t n, next;              /* steps scripted, steps used */
	int unexpected;              /* requests that matched no step */
	char what[1024];             /* the first of them, for the report */
};

/* Reads one request: method, path, raw headers, body.  0 or -1. */
static int read_request(int fd, char *buf, size_t size, char **headers,
			char **body, char *method, char *path)
{
	size_t len = 0, want = 0;
	char *end = NULL, *cl;

	while (!end) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end && len >= size - 1)
			return -1;
	}
	*end = '\0';
	*body = end + 4;
	if (sscanf(buf, "%7s %255s", method, path) != 2)
		return -1;
	*headers = strstr(buf, "\r\n");
	if (!*headers)
		return -1;
	for (cl = *headers; (cl = strcasestr(cl, "\r\ncontent-length:")); cl++)
		want = strtoul(cl + 17, NULL, 10);
	while ((size_t)(buf + len - *body) < want) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return 0;
}

/* 1 when the raw headers hold "Name: value" exactly (name in any case). */
static int has_header(const char *headers, const char *need)
{
	const char *colon = strchr(need, ':');
	size_t nl = (size_t)(colon - need);
	const char *p = headers;

	while ((p = strstr(p, "\r\n"))) {
		const char *line = p + 2, *eol = strstr(line, "\r\n");
		size_t ll = eol ? (size_t)(eol - line) : strlen(line);

		if (ll > nl && strncasecmp(line, need, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl && *v == ' ') {
				v++;
				vl--;
			}
			if (vl == strlen(colon + 2) && memcmp(v, colon + 2, vl) == 0)
				return 1;
		}
		p = line;
	}
	return 0;
}

static void answer(int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", status, strlen(body));

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		return;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char *buf = malloc(65536);

	REQUIRE(buf);

	for (;;) {
		struct pollfd pfd[2] = { { .fd = f->lfd, .events = POLLIN },
					 { .fd = f->stop[0], .events = POLLIN } };
		char method[8], path[256], *headers, *body;
		struct step *s = NULL;
		int fd, ok;

		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents) {
			free(buf);
			return NULL;
		}
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (read_request(fd, buf, 65536, &headers, &body, method,
				 path) < 0) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&f->lock);
		if (f->next < f->n) {
			s = &f->steps[f->next];
			ok = strcmp(s->method, method) == 0 && strcmp(s->path, path) == 0;
			for (int i = 0; ok && i < FAKE_NEEDS && s->need[i][0]; i++)
				ok = strncmp(s->need[i], "body~", 5) == 0
					? strstr(body, s->need[i] + 5) != NULL
					: has_header(headers, s->need[i]);
			if (ok) {
				f->next++;
				s->served_at_ms = test_clock_now(&tclk);
				pthread_cond_broadcast(&f->cond);
			} else {
				s = NULL;
			}
		}
		if (!s && f->unexpected++ == 0)
			snprintf(f->what, sizeof(f->what), "%s %s (step %zu of %zu)",
				 method, path, f->next + 1, f->n);
		while (s && s->held)
			pthread_cond_wait(&f->cond, &f->lock);
		pthread_mutex_unlock(&f->lock);
		if (s) {
			answer(fd, s->status, s->body);
		} else {
			answer(fd, 418, "not in the script");
		}
		close(fd);
	}
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(f->lfd >= 0);
	REQUIRE(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(listen(f->lfd, 16) == 0);
	REQUIRE(getsockname(f->lfd, (struct sockaddr *)&a, &al) == 0);
	f->port = ntohs(a.sin_port);
	REQUIRE(pipe2(f->stop, O_CLOEXEC) == 0);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	REQUIRE(pthread_create(&f->th, NULL, fake_main, f) == 0);
}

/* Scripts one step; the needs are NULL-ended. */
static struct step *fake_expect(struct fake *f, const char *method,
				const char *path, int status, const char *body, ...)
{
	struct step *s;
	const char *need;
	va_list ap;
	int i = 0;

	pthread_mutex_lock(&f->lock);
	REQUIRE(f->n < FAKE_STEPS);
	s = &f->steps[f->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->method, sizeof(s->method), "%s", method);
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->status = status;
	snprintf(s->body, sizeof(s->body), "%s", body);
	va_start(ap, body);
	while ((need = va_arg(ap, const char *)) && i < FAKE_NEEDS)
		snprintf(s->need[i++], sizeof(s->need[0]), "%s", need);
	va_end(ap);
	pthread_mutex_unlock(&f->lock);
	return s;
}

static size_t fake_used(struct fake *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->next;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Waits until n steps are used: 0, or -1 when that did not happen in 20 s
 * of real time (only a broken program takes that long). */
static int fake_wait_used(struct fake *f, size_t n)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = test_wait_count(&f->lock, &f->cond, &f->next, n);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* Lets the held answer of step s go. */
static void fake_release(struct fake *f, struct step *s)
{
	pthread_mutex_lock(&f->lock);
	s->held = 0;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int64_t served_at(struct fake *f, struct step *s)
{
	int64_t t;

	pthread_mutex_lock(&f->lock);
	t = s->served_at_ms;
	pthread_mutex_unlock(&f->lock);
	return t;
}

/* Stops the fake; checks that every step was used and nothing else came. */
#define fake_finish(f)                                                         \
	do {                                                                   \
		REQUIRE(write((f)->stop[1], "x", 1) == 1);                     \
		pthread_join((f)->th, NULL);                                   \
		CHECK_EQ_INT((f)->next, (f)->n);                               \
		CHECK_EQ_INT((f)->unexpected, 0);                              \
		if ((f)->unexpected)                                           \
			printf("#   unexpected request: %s\n", (f)->what);     \
		close((f)->lfd);                                               \
		close((f)->stop[0]);                                           \
		close((f)->stop[1]);                                           \
		pthread_cond_destroy(&(f)->cond);                              \
		pthread_mutex_destroy(&(f)->lock);                             \
	} while (0)

/* A loopback port where nothing listens. */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- helpers ---------------------------------------------------------- */

static const char *aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONFIG_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
	"AWS_CA_BUNDLE", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
	"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	"AWS_STS_REGIONAL_ENDPOINTS", "AWS_ENDPOINT_URL_SSO",
};

/* A clean slate: no AWS variable, files in the test directory (absent). */
static void clean_env(void)
{
	char path[256];

	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", dir, 1);
	snprintf(path, sizeof(path), "%s/credentials", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	unlink(path);
	snprintf(path, sizeof(path), "%s/config", dir);
	setenv("AWS_CONFIG_FILE", path, 1);
	unlink(path);
}

static const char *put(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	REQUIRE(f);
	fputs(text, f);
	REQUIRE(fclose(f) == 0);
	return path;
}

static void env_port(const char *var, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void env_port(const char *var, const char *fmt, ...)
{
	char v[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	setenv(var, v, 1);
}

/* An ISO 8601 time `ms_from_now` ahead of the test clock. */
static const char *iso_in(int64_t ms_from_now, char *buf, size_t size)
{
	kfs_format_iso8601(test_clock_now(&tclk) + ms_from_now, buf, size);
	return buf;
}

/* The JSON of the container endpoint / IMDS, key id `id`. */
static const char *creds_json(const char *id, int64_t life_ms, char *buf,
			      size_t size)
{
	char exp[40];

	snprintf(buf, size, "{\"Code\": \"Success\", \"AccessKeyId\": \"%s\", "
		 "\"SecretAccessKey\": \"sEcReT-%s\", \"Token\": \"tok-sEcReT-%s\", "
		 "\"Expiration\": \"%s\"}", id, id, id,
		 iso_in(life_ms, exp, sizeof(exp)));
	return buf;
}

/* One fetch from a fresh provider: its result, *c filled on success. */
static int fetch(struct kfs_creds_provider *p, struct kfs_aws_creds *c)
{
	int rc;

	REQUIRE(p);
	memset(c, 0, sizeof(*c));
	rc = p->fetch(p, c);
	p->destroy(p);
	return rc;
}

/* ---- the environment, the files, credential_process ------------------ */

TEST(env_source)
{
	struct kfs_aws_creds c;
	int64_t want;

	clean_env();
	CHECK_EQ_INT(fetch(kfs_creds_env_new(), &c), -ENOENT);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	CHECK_EQ_INT(fetch(kfs_creds_env_new(), &c), -EINVAL);
	setenv("AWS_SECRET_ACCESS_KEY", "sEcReT-env", 1);
	CHECK_EQ_INT(fetch(kfs_creds_env_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "AKIDENV");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT-env");
	CHECK(c.session_token == NULL);
	CHECK_EQ_INT(c.expiry_ms, 0);
	kfs_aws_creds_clear(&c);

	setenv("AWS_SESSION_TOKEN", "tok-sEcReT-env", 1);
	setenv("AWS_CREDENTIAL_EXPIRATION", "2030-01-02T03:04:05Z", 1);
	CHECK_EQ_INT(fetch(kfs_creds_env_new(), &c), 0);
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-env");
	CHECK_EQ_INT(kfs_creds_parse_time("2030-01-02T03:04:05.000+00:00", &want), 0);
	CHECK_EQ_INT(c.expiry_ms, want);
	CHECK_EQ_INT(c.expiry_ms, 1893553445000LL);
	kfs_aws_creds_clear(&c);
	setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow", 1);
	CHECK_EQ_INT(fetch(kfs_creds_env_new(), &c), -EINVAL);
	clean_env();
}

TEST(parse_time)
{
	int64_t ms = 0;

	CHECK_EQ_INT(kfs_creds_parse_time("1970-01-01T00:00:00Z", &ms), 0);
	CHECK_EQ_INT(ms, 0);
	CHECK_EQ_INT(kfs_creds_parse_time("2024-02-29T12:00:00.5Z", &ms), 0);
	CHECK_EQ_INT(ms, 1709208000500LL);
	CHECK_EQ_INT(kfs_creds_parse_time("2024-02-29T14:30:00+02:30", &ms), 0);
	CHECK_EQ_INT(ms, 1709208000000LL);
	CHECK_EQ_INT(kfs_creds_parse_time("2023-02-29T12:00:00Z", &ms), -EINVAL);
	CHECK_EQ_INT(kfs_creds_parse_time("2024-01-01T12:00:00", &ms), -EINVAL);
	CHECK_EQ_INT(kfs_creds_parse_time("2024-01-01 12:00:00Z", &ms), -EINVAL);
	CHECK_EQ_INT(kfs_creds_parse_time("2024-01-01T12:00:00Zjunk", &ms), -EINVAL);
	CHECK_EQ_INT(kfs_creds_parse_time("", &ms), -EINVAL);
}

TEST(profile_source)
{
	struct kfs_aws_creds c;

	clean_env();
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("default"), &c), -ENOENT);
	put("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = sEcReT-file\n\n"
	    "[half]\naws_access_key_id = AKIDHALF\n");
	put("config", "[profile other]\naws_access_key_id = AKIDCONF\n"
	    "aws_secret_access_key = sEcReT-conf\naws_session_token = tok-sEcReT-conf\n");
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("default"), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "AKIDFILE");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT-file");
	CHECK(c.session_token == NULL);
	kfs_aws_creds_clear(&c);
	/* Only in the config file. */
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("other"), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "AKIDCONF");
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-conf");
	kfs_aws_creds_clear(&c);
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("half"), &c), -EINVAL);
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("nosuch"), &c), -ENOENT);
	/* A malformed file is an error, not "no credentials". */
	put("credentials", "[default]\naws_access_key_id AKIDNOEQUALS\n");
	CHECK_EQ_INT(fetch(kfs_creds_profile_new("default"), &c), -EINVAL);
	clean_env();
}

TEST(process_source)
{
	struct kfs_aws_creds c;
	char exp[40], cfg[1024];
	int64_t t0;

	clean_env();
	CHECK_EQ_INT(fetch(kfs_creds_process_new("default"), &c), -ENOENT);
	snprintf(cfg, sizeof(cfg), "[profile p]\ncredential_process = printf "
		 "'{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
		 "\"SecretAccessKey\": \"sEcReT-proc\", \"SessionToken\": "
		 "\"tok-sEcReT-proc\", \"Expiration\": \"%s\"}'; echo ignored >&2\n",
		 iso_in(3600 * 1000, exp, sizeof(exp)));
	put("config", cfg);
	CHECK_EQ_INT(fetch(kfs_creds_process_new("p"), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "AKIDPROC");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT-proc");
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-proc");
	CHECK_EQ_INT(c.expiry_ms, T0 + 3600 * 1000);
	kfs_aws_creds_clear(&c);

	/* Long-term: no token, no expiry; from the credentials file too. */
	put("credentials", "[q]\ncredential_process = echo '{\"Version\": 1, "
	    "\"AccessKeyId\": \"AKIDQ\", \"SecretAccessKey\": \"sEcReT-q\"}'\n");
	CHECK_EQ_INT(fetch(kfs_creds_process_new("q"), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "AKIDQ");
	CHECK(c.session_token == NULL);
	CHECK_EQ_INT(c.expiry_ms, 0);
	kfs_aws_creds_clear(&c);

	put("config", "[profile v2]\ncredential_process = echo '{\"Version\": 2, "
	    "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sEcReT\"}'\n"
	    "[profile junk]\ncredential_process = echo not json\n"
	    "[profile nokey]\ncredential_process = echo '{\"Version\": 1, "
	    "\"SecretAccessKey\": \"sEcReT\"}'\n"
	    "[profile fails]\ncredential_process = echo '{\"Version\": 1, "
	    "\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sEcReT\"}'; exit 3\n"
	    "[profile slow]\ncredential_process = sleep 20\n"
	    "[profile silent]\ncredential_process = exec >&-; sleep 20\n");
	CHECK_EQ_INT(fetch(kfs_creds_process_new("v2"), &c), -EINVAL);
	CHECK_EQ_INT(fetch(kfs_creds_process_new("junk"), &c), -EINVAL);
	CHECK_EQ_INT(fetch(kfs_creds_process_new("nokey"), &c), -EINVAL);
	CHECK_EQ_INT(fetch(kfs_creds_process_new("fails"), &c), -EIO);
	/* A process that takes too long is killed: real time, since the
	 * process is real.  300 ms, bounded loosely for valgrind. */
	t0 = kfs_mono_ms();
	CHECK_EQ_INT(fetch(kfs_creds_process_new_timeout("slow", 300), &c), -EIO);
	CHECK(kfs_mono_ms() - t0 < 5000);
	t0 = kfs_mono_ms();
	CHECK_EQ_INT(fetch(kfs_creds_process_new_timeout("silent", 300), &c), -EIO);
	CHECK(kfs_mono_ms() - t0 < 5000);
	clean_env();
}

/* ---- web identity ----------------------------------------------------- */

static const char *sts_answer(const char *id, const char *secret_xml,
			      int64_t life_ms, char *buf, size_t size)
{
	char exp[40];

	kfs_format_iso8601(test_clock_now(&tclk) + life_ms, exp, sizeof(exp));
	exp[19] = 'Z';  /* STS's form: no fraction */
	exp[20] = '\0';
	snprintf(buf, size,
		 "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
		 "  <AssumeRoleWithWebIdentityResult>\n"
		 "    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"
		 "    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
		 "<AssumedRoleId>AROACLKWSDQRAOEXAMPLE:s</AssumedRoleId></AssumedRoleUser>\n"
		 "    <Credentials>\n"
		 "      <SessionToken>tok-sEcReT-%s</SessionToken>\n"
		 "      <SecretAccessKey>%s</SecretAccessKey>\n"
		 "      <Expiration>%s</Expiration>\n"
		 "      <AccessKeyId>%s</AccessKeyId>\n"
		 "    </Credentials>\n"
		 "    <Provider>www.amazon.com</Provider>\n"
		 "  </AssumeRoleWithWebIdentityResult>\n"
		 "  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>\n"
		 "</AssumeRoleWithWebIdentityResponse>\n", id, secret_xml, exp, id);
	return buf;
}

TEST(web_identity_source)
{
	struct kfs_aws_creds c;
	struct fake f;
	char xml[4096];

	clean_env();
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -ENOENT);
	fake_start(&f);
	env_port("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:%d", f.port);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kfs", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", put("token", "jwt.sEcReT+/=\n"), 1);
	setenv("AWS_ROLE_SESSION_NAME", "kfs-session", 1);
	fake_expect(&f, "POST", "/", 200,
		    sts_answer("ASIASTS", "sEcReT/a&amp;b&lt;c", 3600 * 1000,
			       xml, sizeof(xml)),
		    "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
		    "body~Action=AssumeRoleWithWebIdentity",
		    "body~Version=2011-06-15",
		    "body~RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fkfs",
		    "body~RoleSessionName=kfs-session",
		    "body~WebIdentityToken=jwt.sEcReT%2B%2F%3D", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIASTS");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT/a&b<c");
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-ASIASTS");
	CHECK_EQ_INT(c.expiry_ms, T0 + 3600 * 1000);
	kfs_aws_creds_clear(&c);

	/* The profile's web identity wins over the environment's; a session
	 * name is made up from the clock when none is given. */
	put("config", "[profile wi]\nrole_arn = arn:aws:iam::1:role/fromprofile\n"
	    "web_identity_token_file = ~/ptoken\n");
	put("ptoken", "profile-jwt-sEcReT");
	fake_expect(&f, "POST", "/", 200,
		    sts_answer("ASIAPROF", "sEcReT-p", 3600 * 1000, xml, sizeof(xml)),
		    "body~RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Ffromprofile",
		    "body~WebIdentityToken=profile-jwt-sEcReT",
		    "body~RoleSessionName=kinesisfs-1767225600000&", NULL);
	unsetenv("AWS_ROLE_SESSION_NAME");
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("wi", CLK), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIAPROF");
	kfs_aws_creds_clear(&c);

	/* Refusals and bad answers. */
	fake_expect(&f, "POST", "/", 403,
		    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
		    "<Message>Not authorized</Message></Error></ErrorResponse>", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EACCES);
	fake_expect(&f, "POST", "/", 500, "<oops/>", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EIO);
	/* No SessionToken. */
	fake_expect(&f, "POST", "/", 200,
		    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
		    "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>sEcReT"
		    "</SecretAccessKey><Expiration>2030-01-01T00:00:00Z</Expiration>"
		    "</Credentials></AssumeRoleWithWebIdentityResult>"
		    "</AssumeRoleWithWebIdentityResponse>", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EINVAL);
	/* Twice the AccessKeyId. */
	fake_expect(&f, "POST", "/", 200,
		    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
		    "<Credentials><AccessKeyId>A</AccessKeyId><AccessKeyId>B</AccessKeyId>"
		    "<SecretAccessKey>sEcReT</SecretAccessKey><SessionToken>t-sEcReT"
		    "</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>"
		    "</Credentials></AssumeRoleWithWebIdentityResult>"
		    "</AssumeRoleWithWebIdentityResponse>", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EINVAL);
	/* An unknown entity, and a truncated answer. */
	fake_expect(&f, "POST", "/", 200,
		    sts_answer("ASIAENT", "sEcReT&nbsp;", 3600 * 1000, xml, sizeof(xml)),
		    NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EINVAL);
	sts_answer("ASIACUT", "sEcReT", 3600 * 1000, xml, sizeof(xml));
	xml[strlen(xml) / 2] = '\0';
	fake_expect(&f, "POST", "/", 200, xml, NULL);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EINVAL);
	fake_finish(&f);

	/* A token file that is gone, and STS unreachable. */
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EIO);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", put("token", "jwt-sEcReT"), 1);
	env_port("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:%d", closed_port());
	CHECK_EQ_INT(fetch(kfs_creds_web_identity_new("default", CLK), &c), -EIO);
	clean_env();
}

/* ---- the container endpoint ------------------------------------------ */

/* Where STS is (sts.h), as the aws CLI v2 finds it. */
TEST(sts_endpoint)
{
	static const struct {
		const char *region, *mode, *ep_sts, *ep_all, *ignore, *config;
		const char *url, *sign_region;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, NULL, NULL,
		  "https://sts.amazonaws.com/", "us-east-1" },
		{ "eu-west-1", NULL, NULL, NULL, NULL, NULL,
		  "https://sts.eu-west-1.amazonaws.com/", "eu-west-1" },
		{ "eu-west-1", "legacy", NULL, NULL, NULL, NULL,
		  "https://sts.amazonaws.com/", "us-east-1" },
		{ "ap-east-1", "legacy", NULL, NULL, NULL, NULL,
		  "https://sts.ap-east-1.amazonaws.com/", "ap-east-1" },
		{ "cn-north-1", NULL, NULL, NULL, NULL, NULL,
		  "https://sts.cn-north-1.amazonaws.com.cn/", "cn-north-1" },
		{ "eu-west-1", NULL, "http://127.0.0.1:1", "http://127.0.0.1:2",
		  NULL, NULL, "http://127.0.0.1:1", "eu-west-1" },
		{ NULL, NULL, NULL, "http://127.0.0.1:2", NULL, NULL,
		  "http://127.0.0.1:2", "us-east-1" },
		{ "eu-west-1", NULL, NULL, NULL, NULL,
		  "[default]\nservices = mine\nendpoint_url = http://127.0.0.1:4\n"
		  "[services mine]\nkinesis =\n  endpoint_url = http://127.0.0.1:5\n"
		  "sts =\n  endpoint_url = http://127.0.0.1:3\n",
		  "http://127.0.0.1:3", "eu-west-1" },
		{ "eu-west-1", NULL, NULL, NULL, NULL,
		  "[default]\nendpoint_url = http://127.0.0.1:4\n",
		  "http://127.0.0.1:4", "eu-west-1" },
		{ "eu-west-1", NULL, NULL, "http://127.0.0.1:2", "true",
		  "[default]\nendpoint_url = http://127.0.0.1:4\n",
		  "https://sts.eu-west-1.amazonaws.com/", "eu-west-1" },
		{ NULL, NULL, NULL, NULL, NULL,
		  "[default]\nregion = sa-east-1\nsts_regional_endpoints = legacy\n",
		  "https://sts.amazonaws.com/", "us-east-1" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *url = NULL, *region = NULL;
		int rc;

		clean_env();
#define SETOPT(var, v) do { if (v) setenv(var, v, 1); } while (0)
		SETOPT("AWS_REGION", cases[i].region);
		SETOPT("AWS_STS_REGIONAL_ENDPOINTS", cases[i].mode);
		SETOPT("AWS_ENDPOINT_URL_STS", cases[i].ep_sts);
		SETOPT("AWS_ENDPOINT_URL", cases[i].ep_all);
		SETOPT("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", cases[i].ignore);
#undef SETOPT
		if (cases[i].config)
			put("config", cases[i].config);
		rc = kfs_sts_endpoint("default", &url, &region);
		CHECK_EQ_INT(rc, 0);
		if (rc == 0) {
			CHECK_EQ_STR(url, cases[i].url);
			CHECK_EQ_STR(region, cases[i].sign_region);
		}
		free(url);
		free(region);
	}
	clean_env();
	setenv("AWS_REGION", "eu west", 1);
	{
		char *url = NULL, *region = NULL;
		CHECK_EQ_INT(kfs_sts_endpoint("default", &url, &region), -EINVAL);
		CHECK(url == NULL && region == NULL);
	}
	clean_env();
}

TEST(container_source)
{
	struct kfs_aws_creds c;
	struct fake f;
	char json[1024];

	clean_env();
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -ENOENT);
	fake_start(&f);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI",
		 "http://127.0.0.1:%d/v1/credentials", f.port);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "auth-sEcReT-env", 1);
	fake_expect(&f, "GET", "/v1/credentials", 200,
		    creds_json("ASIACONT", 3600 * 1000, json, sizeof(json)),
		    "Authorization: auth-sEcReT-env", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIACONT");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT-ASIACONT");
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-ASIACONT");
	CHECK_EQ_INT(c.expiry_ms, T0 + 3600 * 1000);
	kfs_aws_creds_clear(&c);

	/* The token file wins, and is read again at each fetch. */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	       put("ctoken", "auth-sEcReT-1\n"), 1);
	fake_expect(&f, "GET", "/v1/credentials", 200,
		    creds_json("ASIAONE", 3600 * 1000, json, sizeof(json)),
		    "Authorization: auth-sEcReT-1", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIAONE");
	kfs_aws_creds_clear(&c);
	put("ctoken", "auth-sEcReT-2");
	fake_expect(&f, "GET", "/v1/credentials", 200,
		    creds_json("ASIATWO", 3600 * 1000, json, sizeof(json)),
		    "Authorization: auth-sEcReT-2", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIATWO");
	kfs_aws_creds_clear(&c);

	/* Bad answers. */
	fake_expect(&f, "GET", "/v1/credentials", 200, "{\"AccessKeyId\": ", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	fake_expect(&f, "GET", "/v1/credentials", 200,
		    "{\"AccessKeyId\": \"A\", \"SecretAccessKey\": \"sEcReT\", "
		    "\"Token\": \"t-sEcReT\", \"Expiration\": \"soon\"}", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	fake_expect(&f, "GET", "/v1/credentials", 500, "{}", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EIO);
	fake_expect(&f, "GET", "/v1/credentials", 403, "{}", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EACCES);
	fake_finish(&f);

	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI",
		 "http://127.0.0.1:%d/v1/credentials", closed_port());
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EIO);
	/* Plain http only to loopback and the ECS/EKS hosts. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://user@127.0.0.1/x", 1);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/x", 1);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "no-slash", 1);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	clean_env();
}

TEST(container_full_uri_hosts)
{
	struct kfs_aws_creds c;
	struct fake f;
	char json[1024];

	clean_env();
	fake_start(&f);
	/* localhost and [::1] are loopback too (the fake listens on IPv4, so
	 * only localhost can be served; [::1] must at least be tried). */
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI",
		 "http://localhost:%d/creds?x=1", f.port);
	fake_expect(&f, "GET", "/creds?x=1", 200,
		    creds_json("ASIALOCAL", 3600 * 1000, json, sizeof(json)), NULL);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIALOCAL");
	kfs_aws_creds_clear(&c);
	fake_finish(&f);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[::1]:%d/creds",
		 closed_port());
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EIO);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[fd00:ec2::24]/creds", 1);
	CHECK_EQ_INT(fetch(kfs_creds_container_new(), &c), -EINVAL);
	clean_env();
}

/* ---- IMDSv2 ------------------------------------------------------------ */

#define IMDS_ROLES "/latest/meta-data/iam/security-credentials/"

TEST(imds_source)
{
	struct kfs_aws_creds c;
	struct fake f;
	char json[1024];

	clean_env();
	fake_start(&f);
	env_port("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:%d/", f.port);
	fake_expect(&f, "PUT", "/latest/api/token", 200, "imds-sEcReT-session",
		    "X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL);
	fake_expect(&f, "GET", IMDS_ROLES, 200, "kfs-role\n",
		    "X-aws-ec2-metadata-token: imds-sEcReT-session", NULL);
	fake_expect(&f, "GET", IMDS_ROLES "kfs-role", 200,
		    creds_json("ASIAIMDS", 6 * 3600 * 1000, json, sizeof(json)),
		    "X-aws-ec2-metadata-token: imds-sEcReT-session", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), 0);
	CHECK_EQ_STR(c.access_key_id, "ASIAIMDS");
	CHECK_EQ_STR(c.secret_access_key, "sEcReT-ASIAIMDS");
	CHECK_EQ_STR(c.session_token, "tok-sEcReT-ASIAIMDS");
	CHECK_EQ_INT(c.expiry_ms, T0 + 6 * 3600 * 1000);
	kfs_aws_creds_clear(&c);

	/* No role attached: the source has nothing. */
	fake_expect(&f, "PUT", "/latest/api/token", 200, "t2-sEcReT", NULL);
	fake_expect(&f, "GET", IMDS_ROLES, 404, "", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), -ENOENT);
	/* The token refused, a malformed answer. */
	fake_expect(&f, "PUT", "/latest/api/token", 500, "", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), -EIO);
	fake_expect(&f, "PUT", "/latest/api/token", 200, "t3-sEcReT", NULL);
	fake_expect(&f, "GET", IMDS_ROLES, 200, "r", NULL);
	fake_expect(&f, "GET", IMDS_ROLES "r", 200, "{\"Code\": \"Success\", ", NULL);
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), -EINVAL);
	fake_finish(&f);

	/* Disabled: not even asked. */
	fake_start(&f);
	env_port("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:%d", f.port);
	setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), -ENOENT);
	fake_finish(&f);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	/* A named endpoint that does not answer is an error. */
	env_port("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:%d",
		 closed_port());
	CHECK_EQ_INT(fetch(kfs_creds_imds_new(), &c), -EIO);
	clean_env();
}

/* ---- the chain -------------------------------------------------------- */

/* A chain over the six real sources with a quick credential_process. */
static struct kfs_creds_chain *real_chain(const char *profile)
{
	struct kfs_creds_chain *ch = NULL;
	struct kfs_creds_provider *p[6] = {
		kfs_creds_env_new(), kfs_creds_profile_new(profile),
		kfs_creds_process_new_timeout(profile, 2000),
		kfs_creds_web_identity_new(profile, CLK), kfs_creds_container_new(),
		kfs_creds_imds_new(),
	};

	REQUIRE(kfs_creds_chain_new_from(p, 6, CLK, &ch) == 0);
	return ch;
}

static char got_id[64];
/* The key id the chain gives, or "error N". */
static const char *chain_id(struct kfs_creds_chain *ch)
{
	struct kfs_aws_creds c;
	int rc = kfs_creds_chain_get(ch, &c);

	if (rc < 0)
		snprintf(got_id, sizeof(got_id), "error %d", rc);
	else
		snprintf(got_id, sizeof(got_id), "%s", c.access_key_id);
	kfs_aws_creds_clear(&c);
	return got_id;
}

TEST(chain_order)
{
	struct kfs_creds_chain *ch;
	struct fake cont, imds, sts;
	char json[1024], xml[4096];

	clean_env();
	/* Every source configured; the fakes of the later ones are scripted
	 * only for when they are to be asked. */
	fake_start(&cont);
	fake_start(&imds);
	fake_start(&sts);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "sEcReT-env", 1);
	put("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = sEcReT-file\n");
	put("config", "[default]\ncredential_process = echo '{\"Version\": 1, "
	    "\"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"sEcReT-p\"}'\n");
	env_port("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:%d", sts.port);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", put("token", "jwt-sEcReT"), 1);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/c",
		 cont.port);
	env_port("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:%d",
		 imds.port);

	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "AKIDENV");
	kfs_creds_chain_free(ch);

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "AKIDFILE");
	kfs_creds_chain_free(ch);

	put("credentials", "");
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "AKIDPROC");
	kfs_creds_chain_free(ch);

	put("config", "");
	fake_expect(&sts, "POST", "/", 200,
		    sts_answer("ASIASTS", "sEcReT-s", 3600 * 1000, xml, sizeof(xml)),
		    NULL);
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "ASIASTS");
	/* Remembered and held: no second request. */
	CHECK_EQ_STR(chain_id(ch), "ASIASTS");
	kfs_creds_chain_free(ch);

	unsetenv("AWS_ROLE_ARN");
	fake_expect(&cont, "GET", "/c", 200,
		    creds_json("ASIACONT", 3600 * 1000, json, sizeof(json)), NULL);
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "ASIACONT");
	kfs_creds_chain_free(ch);

	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	fake_expect(&imds, "PUT", "/latest/api/token", 200, "t-sEcReT", NULL);
	fake_expect(&imds, "GET", IMDS_ROLES, 200, "r", NULL);
	fake_expect(&imds, "GET", IMDS_ROLES "r", 200,
		    creds_json("ASIAIMDS", 3600 * 1000, json, sizeof(json)), NULL);
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "ASIAIMDS");
	kfs_creds_chain_free(ch);

	/* Nothing at all. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "error -13");   /* EACCES */
	CHECK_EQ_STR(chain_id(ch), "error -13");
	kfs_creds_chain_free(ch);

	fake_finish(&cont);
	fake_finish(&imds);
	fake_finish(&sts);
	clean_env();
}

TEST(chain_stops_at_a_failing_source)
{
	struct kfs_creds_chain *ch;
	struct fake cont, imds;

	clean_env();
	fake_start(&cont);
	fake_start(&imds);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/c",
		 cont.port);
	env_port("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:%d",
		 imds.port);
	/* The container endpoint is configured and fails: IMDS is not asked. */
	fake_expect(&cont, "GET", "/c", 500, "", NULL);
	fake_expect(&cont, "GET", "/c", 200, "{\"AccessKeyId\": \"A\"}", NULL);
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "error -5");    /* EIO */
	CHECK_EQ_STR(chain_id(ch), "error -22");   /* EINVAL */
	kfs_creds_chain_free(ch);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/c",
		 closed_port());
	ch = real_chain("default");
	CHECK_EQ_STR(chain_id(ch), "error -5");
	kfs_creds_chain_free(ch);
	fake_finish(&cont);
	fake_finish(&imds);
	clean_env();
}

TEST(chain_new_reads_the_profile)
{
	struct kfs_creds_chain *ch;

	clean_env();
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	put("credentials", "[default]\naws_access_key_id = AKIDDEF\n"
	    "aws_secret_access_key = sEcReT-d\n"
	    "[named]\naws_access_key_id = AKIDNAMED\n"
	    "aws_secret_access_key = sEcReT-n\n"
	    "[fromenv]\naws_access_key_id = AKIDFROMENV\n"
	    "aws_secret_access_key = sEcReT-e\n");
	REQUIRE(kfs_creds_chain_new(NULL, CLK, &ch) == 0);
	CHECK_EQ_STR(chain_id(ch), "AKIDDEF");
	kfs_creds_chain_free(ch);
	setenv("AWS_PROFILE", "fromenv", 1);
	REQUIRE(kfs_creds_chain_new(NULL, CLK, &ch) == 0);
	CHECK_EQ_STR(chain_id(ch), "AKIDFROMENV");
	kfs_creds_chain_free(ch);
	REQUIRE(kfs_creds_chain_new("named", CLK, &ch) == 0);
	CHECK_EQ_STR(chain_id(ch), "AKIDNAMED");
	kfs_creds_chain_free(ch);
	kfs_creds_chain_free(NULL);
	clean_env();
}

struct getter {
	struct kfs_creds_chain *ch;
	pid_t tid;                  /* the thread's id, once it runs; atomic */
	int rc;
	char id[32];
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	struct kfs_aws_creds c;

	__atomic_store_n(&g->tid, test_gettid(), __ATOMIC_SEQ_CST);
	g->rc = kfs_creds_chain_get(g->ch, &c);
	if (g->rc == 0)
		snprintf(g->id, sizeof(g->id), "%s", c.access_key_id);
	kfs_aws_creds_clear(&c);
	return NULL;
}

/*
 * The key id the chain gives, from another thread that must be done
 * within 20 s of real time: while an answer is held, a get that waited
 * for the fetch would never end.  "blocked" then (the held step is let go
 * so that the thread ends).
 */
static const char *chain_id_at_once(struct kfs_creds_chain *ch, struct fake *f,
				    struct step *held)
{
	struct getter g = { .ch = ch };
	struct timespec ts;
	pthread_t th;

	REQUIRE(pthread_create(&th, NULL, getter_main, &g) == 0);
	kfs_deadline(&ts, 20000);
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		fake_release(f, held);
		pthread_join(th, NULL);
		return "blocked";
	}
	snprintf(got_id, sizeof(got_id), "%s", g.rc == 0 ? g.id : "error");
	return got_id;
}

TEST(chain_refreshes_in_the_background)
{
	struct kfs_creds_chain *ch;
	struct kfs_aws_creds c;
	struct fake f;
	struct step *second;
	char json[1024];
	int64_t t0 = test_clock_now(&tclk);

	clean_env();
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	fake_start(&f);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/c",
		 f.port);
	/* A lives 6 s: refreshed at half its life, 3 s in, by an answer
	 * that is held until the test lets it go. */
	fake_expect(&f, "GET", "/c", 200, creds_json("ASIAA", 6000, json,
						     sizeof(json)), NULL);
	second = fake_expect(&f, "GET", "/c", 200, creds_json("ASIAB", 3600 * 1000,
							      json, sizeof(json)), NULL);
	second->held = 1;
	ch = real_chain("default");
	REQUIRE(kfs_creds_chain_get(ch, &c) == 0);
	CHECK_EQ_STR(c.access_key_id, "ASIAA");
	CHECK_EQ_INT(c.expiry_ms, t0 + 6000);
	kfs_aws_creds_clear(&c);

	/* The refresher sleeps on the clock until 3 s in, not a moment
	 * sooner. */
	CHECK_EQ_INT(test_clock_wait_for(&tclk, 1, 0), 0);
	CHECK_EQ_INT(test_clock_next(&tclk), t0 + 3000);
	test_clock_advance(&tclk, 2999);
	CHECK_EQ_INT(test_clock_waiting(&tclk), 1);
	CHECK_EQ_INT(fake_used(&f), 1);
	test_clock_advance(&tclk, 1);
	CHECK_EQ_INT(fake_wait_used(&f, 2), 0);
	CHECK_EQ_INT(served_at(&f, second), t0 + 3000);

	/* While the refresh is under way, callers get A at once. */
	CHECK_EQ_STR(chain_id_at_once(ch, &f, second), "ASIAA");
	CHECK_EQ_STR(chain_id_at_once(ch, &f, second), "ASIAA");

	/* Once B came, callers get B, before A expires; the refresher
	 * sleeps again, until 5 minutes before B expires (B's answer was
	 * made at t0). */
	fake_release(&f, second);
	CHECK_EQ_INT(test_clock_wait_for(&tclk, 1, 2), 0);
	CHECK_EQ_INT(test_clock_next(&tclk), t0 + 3300 * 1000);
	CHECK(test_clock_now(&tclk) < t0 + 6000);
	CHECK_EQ_STR(chain_id(ch), "ASIAB");
	kfs_creds_chain_free(ch);
	fake_finish(&f);
	clean_env();
}

TEST(chain_invalidate_and_one_fetch_for_many)
{
	struct kfs_creds_chain *ch;
	struct getter g[6];
	pthread_t th[6];
	struct fake f;
	struct step *s;
	char json[1024];

	clean_env();
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	fake_start(&f);
	env_port("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:%d/c",
		 f.port);
	/* Six callers at once, the answer held until all six are asleep
	 * (one in the fetch, five waiting for it): one request. */
	s = fake_expect(&f, "GET", "/c", 200, creds_json("ASIAONE", 3600 * 1000,
							 json, sizeof(json)), NULL);
	s->held = 1;
	ch = real_chain("default");
	for (int i = 0; i < 6; i++) {
		g[i] = (struct getter){ .ch = ch };
		REQUIRE(pthread_create(&th[i], NULL, getter_main, &g[i]) == 0);
	}
	CHECK_EQ_INT(fake_wait_used(&f, 1), 0);
	for (int i = 0; i < 6; i++) {
		while (!__atomic_load_n(&g[i].tid, __ATOMIC_SEQ_CST))
			sched_yield();
		CHECK_EQ_INT(test_thread_blocked(g[i].tid), 0);
	}
	fake_release(&f, s);
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(g[i].rc, 0);
		CHECK_EQ_STR(g[i].id, "ASIAONE");
	}
	CHECK_EQ_STR(chain_id(ch), "ASIAONE");
	/* Invalidated: the next get fetches anew. */
	fake_expect(&f, "GET", "/c", 200, creds_json("ASIATWO", 3600 * 1000,
						     json, sizeof(json)), NULL);
	kfs_creds_chain_invalidate(ch);
	CHECK_EQ_STR(chain_id(ch), "ASIATWO");
	CHECK_EQ_STR(chain_id(ch), "ASIATWO");
	/* Expired ones are fetched anew by the caller. */
	kfs_creds_chain_invalidate(ch);
	fake_expect(&f, "GET", "/c", 200, creds_json("ASIAOLD", -1000,
						     json, sizeof(json)), NULL);
	fake_expect(&f, "GET", "/c", 200, creds_json("ASIANEW", 3600 * 1000,
						     json, sizeof(json)), NULL);
	CHECK_EQ_STR(chain_id(ch), "ASIAOLD");
	CHECK_EQ_STR(chain_id(ch), "ASIANEW");
	kfs_creds_chain_free(ch);
	fake_finish(&f);
	clean_env();
}

/* ---- nothing secret in the log ---------------------------------------- */

static int log_fd = -1, saved_stderr = -1;
static char log_path[128];

TEST(no_secret_in_the_log)
{
	char buf[65536];
	ssize_t n;
	int fd;

	fflush(stderr);
	REQUIRE(dup2(saved_stderr, 2) == 2);
	fd = open(log_path, O_RDONLY);
	REQUIRE(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	REQUIRE(n >= 0);
	buf[n] = '\0';
	/* The log said something (the failures above), but no secret. */
	CHECK(strstr(buf, "AWS credentials") != NULL);
	CHECK(strstr(buf, "sEcReT") == NULL);
	if (strstr(buf, "sEcReT"))
		printf("#   log: %.80s\n", strstr(buf, "sEcReT") - 40 > buf
		       ? strstr(buf, "sEcReT") - 40 : buf);
}

int main(void)
{
	char cmd[128];
	int rc;

	/* A client that gave up must not kill the fake (nor the test). */
	signal(SIGPIPE, SIG_IGN);
	test_clock_init(&tclk, T0);
	snprintf(dir, sizeof(dir), "/tmp/kfs-creds-XXXXXX");
	REQUIRE(mkdtemp(dir));
	/* Everything logged, to a file read by the last test. */
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	saved_stderr = dup(2);
	REQUIRE(log_fd >= 0 && saved_stderr >= 0 && dup2(log_fd, 2) == 2);
	kfs_log_init(1, KFS_LOG_DEBUG);

	RUN(parse_time);
	RUN(env_source);
	RUN(profile_source);
	RUN(process_source);
	RUN(web_identity_source);
	RUN(sts_endpoint);
	RUN(container_source);
	RUN(container_full_uri_hosts);
	RUN(imds_source);
	RUN(chain_order);
	RUN(chain_stops_at_a_failing_source);
	RUN(chain_new_reads_the_profile);
	RUN(chain_refreshes_in_the_background);
	RUN(chain_invalidate_and_one_fetch_for_many);
	RUN(no_secret_in_the_log);
	rc = tap_done();
	test_clock_destroy(&tclk);
	close(log_fd);
	close(saved_stderr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 99;
	return rc;
}
