/* Shared helpers of the libFuzzer harnesses (tests/fuzz/fuzz_*.c): a
 * property check that aborts, exact-size copies for ASan, and small
 * reference codecs written apart from src/ to compare against. */
#ifndef WSB_FUZZ_H
#define WSB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* A broken property: say which and where, then abort() so libFuzzer
 * saves the input as a crash. */
#define FUZZ_CHECK(cond, what)                                        \
	do {                                                          \
		if (!(cond))                                          \
			fuzz_fail(__FILE__, __LINE__, #cond, (what)); \
	} while (0)

#define FUZZ_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The libFuzzer entry point each harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print the broken property and abort(). */
void fuzz_fail(const char *file, int line, const char *cond, const char *what)
    __attribute__((noreturn));

/* A malloc'd copy of exactly len bytes (at least one byte is allocated,
 * none of it readable past len for ASan).  Caller frees.  Never NULL. */
uint8_t *fuzz_dup(const void *data, size_t len);

/* A malloc'd buffer of exactly len bytes (at least one), filled with
 * 0xa5 so a reader of bytes never written sees junk.  Never NULL. */
uint8_t *fuzz_alloc(size_t len);

/* A malloc'd NUL-terminated copy of data[0..len).  Caller frees. */
char *fuzz_strndup(const void *data, size_t len);

/* 1 if c is an RFC 9110 5.6.2 token character. */
int fuzz_is_tchar(unsigned char c);

/* 1 if a and b (lengths alen, blen) are equal ignoring ASCII case. */
int fuzz_case_equal(const char *a, size_t alen, const char *b, size_t blen);

/* RFC 9110 5.6.1 list: 1 if the comma-separated list[0..len) has an
 * element equal to token (ignoring ASCII case if nocase), blanks around
 * elements ignored. */
int fuzz_list_has(const char *list, size_t len, const char *token, int nocase);

/* RFC 4648 base64 of in[0..len) into out (4 * ceil(len / 3) + 1 bytes),
 * NUL-terminated.  Returns the length written. */
size_t fuzz_b64_encode(const uint8_t *in, size_t len, char *out);

/* Decode RFC 4648 base64 (length a multiple of 4, '=' only as the last
 * one or two characters); bits left over in the last character are
 * ignored.  out needs len / 4 * 3 bytes.  Returns the decoded length,
 * or -1 if in is not base64 by that rule. */
long fuzz_b64_decode(const char *in, size_t len, uint8_t *out);

#endif
