// Package pgp is keyunlock's small OpenPGP key layer: the algorithm, cipher
// and AEAD numbers of RFC 9580, and the public part of key packets (v4, v5
// and v6) with their fingerprints and key IDs. It parses and serializes
// exactly what keyunlock needs to decrypt and encrypt session keys, and
// keeps every other key as opaque material with a correct fingerprint, so
// that a certificate or key file with a key keyunlock cannot use still
// reads. It deliberately avoids go-crypto's openpgp/packet, whose algorithm
// switches pull post-quantum and signature code into the binary.
//
// The encryption side lives here too: certificates (ReadCerts, Cert) with
// the self-signatures and subkey bindings checked on demand (Signature;
// RSA, DSA, ECDSA, Ed25519 and Ed448), and messages (Encrypt: PKESKs for
// RSA, ElGamal, ECDH, X25519 and X448, inside SEIPDv1 or SEIPDv2).
package pgp
