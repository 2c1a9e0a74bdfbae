package simtest

import (
	"testing"
)

func TestProbeFixture(t *testing.T) {
	for _, k := range Kinds {
		f := GPGCardFixture(t, k)
		t.Logf("%+v", f)
	}
}
