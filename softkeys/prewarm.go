package softkeys

import (
	"crypto/ed25519"
	"encoding/hex"
)

// Prewarm computes what checking a key file's self-signatures computes on
// first use: crypto/ed25519's table of base-point multiples, about 0.4 ms,
// the larger part of checking a gpg key file's Ed25519 signatures. Run in
// its own goroutine at process start, it overlaps the process's own
// start-up (locking memory, parsing flags) instead of delaying the first
// unlock. It reads no secret.
func Prewarm() { prewarm() }

// prewarm verifies the first Ed25519 test vector of RFC 8032 (section 7.1:
// the empty message), which runs through the base-point multiplication
// that builds the table, and reports whether it verified.
func prewarm() bool {
	pub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	sig, _ := hex.DecodeString("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	return ed25519.Verify(pub, nil, sig)
}
