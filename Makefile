# keyunlock — build, test, demo. See README.md.
GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/keyunlock
LDFLAGS := -s -w -X main.Version=$(VERSION)

export KEYUNLOCK_TEST_STRICT := 1

.PHONY: all build test test-deps vet unit demo clean fuzz fuzz-short

all: build

build: $(BIN)

$(BIN): FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $@ ./cmd/keyunlock

FORCE:

test-deps:
	scripts/install-test-deps.sh

vet:
	CGO_ENABLED=0 $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

unit: build
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 30m ./...

# Fuzzing: every FuzzXxx target of the module, FUZZTIME each (scripts/fuzz.sh).
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# A short run of every fuzz target, part of make test.
fuzz-short:
	FUZZTIME=2s scripts/fuzz.sh

# The demo: unlock the bundled sample keyfile with the bundled sample key
# (testdata/demo/README says how they were made).
DEMO := testdata/demo
demo: build
	@echo "demo: the sample key's passphrase is '$$(cat $(DEMO)/passphrase)' (from $(DEMO)/passphrase)"
	@echo "demo: $(BIN) decrypt --key $(DEMO)/key.asc --passphrase-file $(DEMO)/passphrase $(DEMO)/keyfile.pgp | od -An -tx1 | head"
	@bash -o pipefail -c '$(BIN) decrypt --key $(DEMO)/key.asc --passphrase-file $(DEMO)/passphrase $(DEMO)/keyfile.pgp | od -An -tx1 | head'

# make test is what CI runs (.ci/run): install what is missing, then every test.
test: test-deps vet unit fuzz-short

clean:
	rm -rf bin
