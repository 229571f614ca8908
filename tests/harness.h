/*
 * A tiny test harness.  Each test binary is one ctest test; every check
 * that fails prints "FAIL file:line: expr" and the binary ends with
 * "N passed, N failed" and a non-zero status when any check failed.
 *
 *	static void
 *	test_thing(void)
 *	{
 *		CHECK(1 + 1 == 2);
 *		CHECK_STR(got, "want");
 *	}
 *
 *	int main(void) { RUN(test_thing); return harness_done(); }
 */
#ifndef MOAT_HARNESS_H
#define MOAT_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed, harness_cur_failed;
static const char *harness_cur;

#define CHECK(e) do {							\
	if (!(e)) {							\
		printf("FAIL %s:%d: %s: %s\n", __FILE__, __LINE__,	\
		    harness_cur, #e);					\
		harness_cur_failed++;					\
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ == NULL || w_ == NULL || strcmp(g_, w_) != 0) {		\
		printf("FAIL %s:%d: %s: %s\n  got:  \"%s\"\n  want: "	\
		    "\"%s\"\n", __FILE__, __LINE__, harness_cur, #got,	\
		    g_ ? g_ : "(null)", w_ ? w_ : "(null)");		\
		harness_cur_failed++;					\
	}								\
} while (0)

/* got contains want as a substring */
#define CHECK_CONTAINS(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (g_ == NULL || w_ == NULL || strstr(g_, w_) == NULL) {	\
		printf("FAIL %s:%d: %s: %s\n  got:  \"%s\"\n  want "	\
		    "substring: \"%s\"\n", __FILE__, __LINE__,		\
		    harness_cur, #got, g_ ? g_ : "(null)",		\
		    w_ ? w_ : "(null)");				\
		harness_cur_failed++;					\
	}								\
} while (0)

#define CHECK_INT(got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (g_ != w_) {							\
		printf("FAIL %s:%d: %s: %s == %lld, want %lld\n",	\
		    __FILE__, __LINE__, harness_cur, #got, g_, w_);	\
		harness_cur_failed++;					\
	}								\
} while (0)

#define RUN(fn) do {							\
	harness_cur = #fn;						\
	harness_cur_failed = 0;						\
	fn();								\
	if (harness_cur_failed) {					\
		harness_failed++;					\
		printf("not ok - %s\n", #fn);				\
	} else {							\
		harness_passed++;					\
		printf("ok - %s\n", #fn);				\
	}								\
	fflush(stdout);							\
} while (0)

static inline int
harness_done(void)
{
	printf("%d passed, %d failed\n", harness_passed, harness_failed);
	return harness_failed ? 1 : 0;
}

#endif /* MOAT_HARNESS_H */
