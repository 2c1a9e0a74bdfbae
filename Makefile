# keyunlock — build, test, demo. See README.md.
GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/keyunlock
LDFLAGS := -s -w -X main.Version=$(VERSION)
# NOINLINE: packages compiled without inlining (-l) in the binary, which
# makes it about 175 kB (10 %) smaller under zstd -19. Most of them run
# once per process or wait on I/O: command line and output, formatting and
# reflection, flags, logs, time zones, files, decompression, key and
# certificate parsing, big-number set-up, the card and reader stack; there
# inlining only adds code. The runtime, strings/bytes/strconv/bufio/io,
# sync and the syscall layer are on every path but spend their time in
# loops and assembly, not in calls: A/B runs (alternating, this 2-core
# machine) showed no change in soft-key unlock time (demo key, perf stat
# -r 40: about 49 ms either way) or start-up (keyunlock version, 2.5 ms),
# and the daemon's CPU per Decrypt call at most about 5 % higher (84 -> 86
# us with the runtime alone, 89 us with the rest too; noise is +-5 us).
# Of the crypto code only the legacy parts are in (brainpool and
# secp256k1 through crypto/elliptic, CAST5, 3DES, go-crypto's armor, OCB,
# EAX and key wrap, which handle a few hundred bytes per unlock); the
# rest, core, softkeys, internal/s2k, x/crypto, circl, card/tlv and
# card/iso7816 keep inlining.
NOINLINE := runtime fmt flag log text/tabwriter reflect internal/reflectlite internal/fmtsort \
	sort time os io/fs os/signal path/filepath encoding/binary encoding/hex unicode/... \
	compress/... math/big internal/godebug internal/bisect internal/runtime/cgroup \
	strings strconv bytes bufio errors io context sync/... internal/poll syscall golang.org/x/sys/unix \
	crypto/elliptic crypto/des golang.org/x/crypto/cast5 github.com/ProtonMail/go-crypto/... \
	github.com/keyunlock/keyunlock/cmd/keyunlock github.com/keyunlock/keyunlock/internal/pgp \
	github.com/keyunlock/keyunlock/card github.com/keyunlock/keyunlock/card/openpgp \
	github.com/keyunlock/keyunlock/pcsc/...
GCFLAGS := $(foreach p,$(NOINLINE),-gcflags=$(p)=-l)

export KEYUNLOCK_TEST_STRICT := 1

.PHONY: all build test test-deps vet unit demo clean fuzz fuzz-short test-scard install uninstall boot-test bench bench-smoke bench-daemon

all: build

build: $(BIN)

$(BIN): FORCE
	CGO_ENABLED=0 $(GO) build -trimpath $(GCFLAGS) -ldflags='$(LDFLAGS)' -o $@ ./cmd/keyunlock

FORCE:

test-deps:
	scripts/install-test-deps.sh

vet:
	CGO_ENABLED=0 $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# unit and boot-test run the binary make build made (KEYUNLOCK_TEST_BIN), not
# a plain go build: the shipped build flags are tested.
unit: build
	KEYUNLOCK_TEST_BIN=$(abspath $(BIN)) CGO_ENABLED=0 $(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/boot$$')

# The differential test of pcsc/ against libpcsclite (github.com/ebfe/scard,
# cgo, libpcsclite-dev): the only cgo build, test-only.
test-scard:
	CGO_ENABLED=1 $(GO) test -count=1 -tags scard ./pcsc/...

# Fuzzing: every FuzzXxx target of the module, FUZZTIME each (scripts/fuzz.sh).
FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# A short run of every fuzz target, part of make test: a count of executions
# rather than a duration (see scripts/fuzz.sh on Go's fuzztime deadline race).
fuzz-short:
	FUZZTIME=3000x scripts/fuzz.sh

# The demo: unlock the bundled sample keyfile with the bundled sample key
# (testdata/demo/README says how they were made).
DEMO := testdata/demo
demo: build
	@echo "demo: the sample key's passphrase is '$$(cat $(DEMO)/passphrase)' (from $(DEMO)/passphrase)"
	@echo "demo: $(BIN) decrypt --key $(DEMO)/key.asc --passphrase-file $(DEMO)/passphrase $(DEMO)/keyfile.pgp | od -An -tx1 | head"
	@bash -o pipefail -c '$(BIN) decrypt --key $(DEMO)/key.asc --passphrase-file $(DEMO)/passphrase $(DEMO)/keyfile.pgp | od -An -tx1 | head'

# make test is what CI runs (.ci/run): install what is missing, then every test.
test: test-deps vet unit test-scard fuzz-short bench-smoke boot-test

# Benchmarks: cold unlocks against gpg and sq, memory, initrd footprint,
# cards, daemon, Go micro-benchmarks; writes BENCHMARKS.md and its chart
# (internal/bench). BENCHRUNS runs per tool and case.
BENCHRUNS ?= 10
bench: test-deps build
	CGO_ENABLED=0 $(GO) run ./internal/bench -bin $(BIN) -runs $(BENCHRUNS) -o BENCHMARKS.md -chart benchmarks.svg

# A quick run of the bench code (1 run each, tiny sizes, temp report) so it
# cannot rot; part of make test.
bench-smoke: build
	CGO_ENABLED=0 $(GO) run ./internal/bench -bin $(BIN) -smoke

# Part 5 alone (daemon throughput and latency), printed instead of written.
bench-daemon: build
	CGO_ENABLED=0 $(GO) run ./internal/bench -bin $(BIN) -only daemon

clean:
	rm -rf bin

# Boot tests: real initrds (dracut, mkinitcpio hook) booted in QEMU. Kernel,
# dracut and built images are cached in .cache/boot.
boot-test: build
	KEYUNLOCK_TEST_BIN=$(abspath $(BIN)) CGO_ENABLED=0 $(GO) test -count=1 -timeout 40m -v ./boot/

# Where each initrd generator looks for its parts.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DRACUTMODDIR   ?= $(PREFIX)/lib/dracut/modules.d/91keyunlock
INITCPIODIR    ?= $(PREFIX)/lib/initcpio
INITRAMFSDIR   ?= $(PREFIX)/share/initramfs-tools
CRYPTSCRIPTDIR ?= $(PREFIX)/lib/cryptsetup/scripts

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keyunlock
	for u in systemd/*.socket systemd/*.service systemd/*.path; do \
		[ -f "$$u" ] && install -D -m 0644 "$$u" $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || true; \
	done
	install -D -m 0755 dracut/module-setup.sh $(DESTDIR)$(DRACUTMODDIR)/module-setup.sh
	install -D -m 0755 dracut/keyunlock-unlock.sh $(DESTDIR)$(DRACUTMODDIR)/keyunlock-unlock.sh
	install -D -m 0644 dracut/69-keyunlock.rules $(DESTDIR)$(DRACUTMODDIR)/69-keyunlock.rules
	install -D -m 0644 mkinitcpio/install/keyunlock $(DESTDIR)$(INITCPIODIR)/install/keyunlock
	install -D -m 0644 mkinitcpio/install/sd-keyunlock $(DESTDIR)$(INITCPIODIR)/install/sd-keyunlock
	install -D -m 0644 mkinitcpio/hooks/keyunlock $(DESTDIR)$(INITCPIODIR)/hooks/keyunlock
	install -D -m 0644 mkinitcpio/keyunlock-usb $(DESTDIR)$(INITCPIODIR)/keyunlock-usb
	install -D -m 0755 initramfs-tools/hooks/keyunlock $(DESTDIR)$(INITRAMFSDIR)/hooks/keyunlock
	install -D -m 0755 initramfs-tools/scripts/keyunlock $(DESTDIR)$(CRYPTSCRIPTDIR)/keyunlock
	install -d -m 0700 $(DESTDIR)/etc/keyunlock/keys $(DESTDIR)/etc/keyunlock/keys.d

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/keyunlock
	for u in systemd/*.socket systemd/*.service systemd/*.path; do \
		[ -f "$$u" ] && rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || true; \
	done
	rm -rf $(DESTDIR)$(DRACUTMODDIR)
	rm -f $(DESTDIR)$(INITCPIODIR)/install/keyunlock $(DESTDIR)$(INITCPIODIR)/install/sd-keyunlock $(DESTDIR)$(INITCPIODIR)/hooks/keyunlock $(DESTDIR)$(INITCPIODIR)/keyunlock-usb
	rm -f $(DESTDIR)$(INITRAMFSDIR)/hooks/keyunlock $(DESTDIR)$(CRYPTSCRIPTDIR)/keyunlock
	@echo "uninstall: /etc/keyunlock (your keys and configuration) was left in place"
