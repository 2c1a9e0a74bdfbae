// Package vpcd connects a simulated smart card to vsmartcard's vpcd driver
// inside pcscd, so that a real pcscd (and everything above it: keyunlock,
// GnuPG's scdaemon, opensc-tool) sees the simulated card in a reader.
package vpcd

// Card is a simulated ICC answering command APDUs. The OpenPGP card
// simulator implements it; the vpcd front end drives it.
type Card interface {
	// ATR is the answer-to-reset the card presents.
	ATR() []byte
	// Reset drops volatile state (verified PINs, the selected application),
	// as a power cycle or a warm reset of a real card does.
	Reset()
	// Transmit processes one command APDU and returns the response APDU
	// including the two status bytes.
	Transmit(cmd []byte) []byte
}
