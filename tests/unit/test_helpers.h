/* Helpers shared by the unit tests: include after criterion.h. */
#ifndef WSB_TEST_HELPERS_H
#define WSB_TEST_HELPERS_H

#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#ifndef NELEM
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* Bytes mapped before the guard page: len rounded up to whole pages. */
static inline size_t
test_guard_span(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t n = (len + pg - 1) / pg * pg;

	return n == 0 ? pg : n;
}

/*
 * The end of at least len writable bytes that an inaccessible page
 * follows: a parser given input that ends here faults on a 1-byte
 * over-read (or a formatter on an over-write), even without ASan.  Put
 * the input at end - n.  Release with test_guard_free(end, len).
 */
static inline void *
test_guard_end(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = test_guard_span(len);
	char  *p;

	p = mmap(NULL, n + pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(p != MAP_FAILED, "mmap failed");
	cr_assert(mprotect(p + n, pg, PROT_NONE) == 0, "mprotect failed");
	return p + n;
}

/* Unmap what test_guard_end(len) returned. */
static inline void
test_guard_free(void *end, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = test_guard_span(len);

	cr_assert(munmap((char *)end - n, n + pg) == 0, "munmap failed");
}

#endif
