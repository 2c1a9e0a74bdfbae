// Package softkeys is the keyunlock backend for soft keys: OpenPGP secret key
// files (binary or ASCII-armored, one file or a directory of them), each file
// a core.Device and each secret key or subkey a core.Key.
//
// Keys stay locked until Unlock. Unlocking decrypts only the key asked for,
// with this package's own secret-key decryption: the iterated S2K runs at the
// hash's raw speed (internal/s2k), Argon2 uses every lane the parameters
// allow, and the secret material is parsed here and checked against the
// public key (an RSA key's primes against its modulus, an ECDH or X25519
// scalar against its point), so that a file whose public fields were
// replaced is refused. RSA keys get the standard library's CRT form from
// OpenPGP's own coefficient, without a modular inversion. GnuPG
// stubs (gnu-dummy, gnu-divert-to-card) are listed as unavailable keys that
// live on a card.
package softkeys
