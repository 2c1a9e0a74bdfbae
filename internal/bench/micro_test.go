package main

import (
	"strings"
	"testing"
)

func TestWriteCardsCCID(t *testing.T) {
	var r report
	writeCardsCCID(&r, []string{
		"BenchmarkColdUnlockCCID/qemu-t0-2         	    1000	   1167440 ns/op	         8.000 apdus/op	        10.00 ccid-msgs/op	         1.000 status-msgs/op",
		"BenchmarkColdUnlockCCID/yubikey-2         	    1000	    637816 ns/op	         5.000 apdus/op	         7.000 ccid-msgs/op	         1.000 status-msgs/op",
	})
	out := r.buf.String()
	for _, want := range []string{"| qemu-t0 | 8 | 10 | 1 |\n", "| yubikey | 5 | 7 | 1 |\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing row %q in\n%s", want, out)
		}
	}
	var empty report
	if writeCardsCCID(&empty, nil); empty.buf.Len() != 0 {
		t.Errorf("a report without CCID lines got %q", empty.buf.String())
	}
}
