// Package sim is a simulated OpenPGP card (application version 3.4) for
// tests and benchmarks. It answers command APDUs the way real tokens do,
// faithfully enough that GnuPG's scdaemon reads, personalises and uses it,
// and it can imitate the transport and protocol quirks of real cards
// (YubiKey, Gnuk, T=0 JavaCards…) so that keyunlock's card client can be
// tested against each of them.
//
// A Card keeps its state (keys, PINs, retry counters, data objects) in a
// directory and rewrites it atomically after every change, so a card
// "survives" being unplugged: a second process (cmd/vcard behind vpcd, or a
// test) opening the same directory sees the same card. It implements
// vpcd.Card and can be driven in-process through Transmit.
//
// Quirks are selected with Options.Quirks, usually parsed from a comma list
// by ParseQuirks (see Quirks for the names).
package sim
