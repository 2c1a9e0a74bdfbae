// Package core is keyunlock's private key store.
//
// It defines what a backend is (Backend → Device → Key), aggregates backends
// in a Keystore that picks the most convenient key for a set of PKESKs
// (unlocked first, then available and locked, prompting for the secret), and
// decrypts small OpenPGP messages on top of it. The same Service interface is
// served in-process (co-located mode) and over the daemon socket, so callers
// never care where the keys live. core imports no backend.
package core
