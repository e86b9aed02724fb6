# Build the libFuzzer harnesses of tests/fuzz out of tree; scripts/fuzz
# runs this from the top of the source tree:
#   make -f tests/fuzz/fuzz.mk B=build-fuzz [build-fuzz/fuzz_frame ...]
# Each harness links every pure module of Makefile.am's PURE_SOURCES, all
# built with ASan, UBSan (fatal) and libFuzzer's coverage.

B ?= build-fuzz
CC = clang
HARNESSES = fuzz_frame fuzz_http fuzz_handshake fuzz_web_path fuzz_auth

# The pure modules, read from Makefile.am so a new one is linked too.
PURE := $(filter src/%.c,$(shell sed -n \
	'/^PURE_SOURCES *=/,/[^\\]$$/p' Makefile.am))
PURE := $(or $(PURE),src/frame.c src/http.c src/handshake.c src/web.c \
	src/auth.c src/log.c src/config.c)

FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -Wall -Wextra \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CPPFLAGS = -Iinclude -Itests/fuzz -D_GNU_SOURCE \
	$(shell pkg-config --cflags libevent openssl 2>/dev/null)
FUZZ_LIBS = $(or $(shell pkg-config --libs libevent openssl 2>/dev/null), \
	-levent -lssl -lcrypto) -lpthread

PURE_OBJ = $(PURE:%.c=$(B)/obj/%.o)
UTIL_OBJ = $(B)/obj/tests/fuzz/fuzz_util.o

all: $(HARNESSES:%=$(B)/%)

$(B)/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(UTIL_OBJ) $(PURE_OBJ)
	$(CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -MMD -MP -c -o $@ $<

.PHONY: all
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
