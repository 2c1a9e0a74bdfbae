// Package card is keyunlock's OpenPGP smart-card backend: every OpenPGP
// card reachable through PC/SC is a core.Device whose decryption key is a
// core.Key behind the card's PIN. The card protocol lives in the
// sub-packages (iso7816, tlv, openpgp); this package adds the policy:
// which card, when to read the retry counter, when to refuse a VERIFY,
// transactions, touch notices and error messages that say what to do.
package card
