# Build the libFuzzer harnesses of tests/fuzz out of tree; scripts/fuzz
# runs this from the top of the source tree:
#   make -f tests/fuzz/fuzz.mk B=build-fuzz [build-fuzz/fuzz_frame ...]
# Each harness links every pure module of Makefile.am's PURE_SOURCES, all
# built with ASan, UBSan (fatal) and libFuzzer's coverage.

B ?= build-fuzz
CC = clang
HARNESSES = fuzz_frame fuzz_http fuzz_handshake fuzz_web_path fuzz_auth \
	fuzz_token_file fuzz_token_redis \
	fuzz_token_jwt fuzz_token fuzz_forwarded fuzz_proxy_proto

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

# Token files: the parser and table of src/token_file.c (no threads, no
# event loop; its reading of files is never called by the harness).
$(B)/fuzz_token_file: $(B)/obj/src/token_file.o

# TokenRedis: the source and value parsers of src/token_redis_parse.c
# alone (no hiredis), with jansson (uninstrumented) beneath them.
$(B)/fuzz_token_redis: $(B)/obj/src/token_redis_parse.o
$(B)/fuzz_token_redis: FUZZ_LIBS += $(shell pkg-config --libs jansson)

# JWTTokenApi: the token checks of src/token_jwt.c, the key files of
# src/token_jwt_key.c and the claims of src/token_jwt_claims.c, with cjose
# and jansson (uninstrumented) beneath them.
$(B)/fuzz_token_jwt: $(B)/obj/src/token_jwt.o $(B)/obj/src/token_jwt_key.o \
	$(B)/obj/src/token_jwt_claims.o
$(B)/fuzz_token_jwt: FUZZ_LIBS += $(shell pkg-config --libs cjose jansson)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -MMD -MP -c -o $@ $<

.PHONY: all
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
