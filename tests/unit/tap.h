/*
 * tap.h - a minimal test harness for the unit tests (TAP output).
 *
 *   TEST(name) { ... CHECK(cond); CHECK_EQ_INT(a, b); CHECK_EQ_STR(a, b); }
 *   int main(void) { RUN(name); ...; return tap_done(); }
 *
 * A test that passes without checking anything proves nothing: a RUN
 * whose body made no CHECK or CHECK_EQ_* (REQUIRE is setup, not a check)
 * is "not ok", and so is a program that RUNs no test at all.
 *
 * Exit status follows automake: 0 all passed, 1 a check failed (or a test
 * checked nothing, or none ran), 99 hard error (REQUIRE).  There is no
 * skip: a unit test needs nothing that could be missing.
 */
#ifndef KFS_TAP_H
#define KFS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_cur_failed;
/* Checks made by the running test; atomic because some tests check from
 * the threads they start. */
static unsigned long tap_cur_checks;

#define TAP_COUNT_CHECK() __atomic_fetch_add(&tap_cur_checks, 1, __ATOMIC_RELAXED)

#define TEST(name) static void name(void)

#define RUN(name)                                                        \
	do {                                                             \
		tap_cur_failed = 0;                                      \
		__atomic_store_n(&tap_cur_checks, 0, __ATOMIC_RELAXED);  \
		name();                                                  \
		tap_n++;                                                 \
		if (__atomic_load_n(&tap_cur_checks, __ATOMIC_RELAXED) == 0) { \
			printf("#   %s made no check\n", #name);          \
			tap_cur_failed = 1;                              \
		}                                                        \
		printf("%s %d - %s\n", tap_cur_failed ? "not ok" : "ok", \
		       tap_n, #name);                                    \
		if (tap_cur_failed)                                      \
			tap_failed++;                                    \
		fflush(stdout);                                          \
	} while (0)

#define CHECK(cond)                                                       \
	do {                                                              \
		TAP_COUNT_CHECK();                                        \
		if (!(cond)) {                                            \
			printf("#   %s:%d: check failed: %s\n", __FILE__,  \
			       __LINE__, #cond);                          \
			tap_cur_failed = 1;                               \
		}                                                         \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                   \
	do {                                                                 \
		long long tap_a = (long long)(a), tap_b = (long long)(b);    \
		TAP_COUNT_CHECK();                                           \
		if (tap_a != tap_b) {                                        \
			printf("#   %s:%d: %s == %lld, expected %s == %lld\n", \
			       __FILE__, __LINE__, #a, tap_a, #b, tap_b);    \
			tap_cur_failed = 1;                                  \
		}                                                            \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                  \
	do {                                                                \
		const char *tap_a = (a), *tap_b = (b);                      \
		TAP_COUNT_CHECK();                                          \
		if (!tap_a || !tap_b || strcmp(tap_a, tap_b) != 0) {        \
			printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", \
			       __FILE__, __LINE__, #a, tap_a ? tap_a : "(null)", \
			       tap_b ? tap_b : "(null)");                   \
			tap_cur_failed = 1;                                 \
		}                                                           \
	} while (0)

/* Fatal for the whole program: setup could not be done. */
#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("Bail out! %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			exit(99);                                            \
		}                                                            \
	} while (0)

static inline int tap_done(void)
{
	if (tap_n == 0) {
		printf("not ok 1 - the program ran no test\n");
		tap_n = tap_failed = 1;
	}
	printf("1..%d\n", tap_n);
	printf("# %d passed, %d failed\n", tap_n - tap_failed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
