package pgp

import "testing"

func TestCurveImplementations(t *testing.T) {
	nist := map[*Curve]bool{&CurveNistP256: true, &CurveNistP384: true, &CurveNistP521: true}
	brainpool := map[*Curve]bool{&CurveBrainpoolP256: true, &CurveBrainpoolP384: true, &CurveBrainpoolP512: true}
	for _, c := range curves {
		if got := c.ECDH() != nil; got != nist[c] {
			t.Errorf("%s: ECDH implementation %v, want %v", c.Name, got, nist[c])
		}
		e := c.Elliptic()
		if got := e != nil; got != (nist[c] || brainpool[c]) {
			t.Errorf("%s: elliptic implementation %v, want %v", c.Name, got, nist[c] || brainpool[c])
			continue
		}
		if e != nil && (e.Params().BitSize+7)/8 != c.Coord {
			t.Errorf("%s: the implementation has %d-bit coordinates, the curve %d bytes", c.Name, e.Params().BitSize, c.Coord)
		}
	}
	var unknown *Curve
	if unknown.ECDH() != nil || unknown.Elliptic() != nil {
		t.Error("an unknown curve has an implementation")
	}
}
