package pgp

// Checksum is the two-octet checksum OpenPGP puts after a session key in
// a PKESK (RFC 9580 §5.1) and after unencrypted or checksum-protected
// secret key material (§5.5.3): the sum of the octets modulo 65536.
func Checksum(b []byte) uint16 {
	var sum uint16
	for _, c := range b {
		sum += uint16(c)
	}
	return sum
}
