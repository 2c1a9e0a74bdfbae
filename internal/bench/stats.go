package main

import (
	"fmt"
	"sort"
	"time"
)

// stat summarises durations: median, min and max.
type stat struct{ med, min, max time.Duration }

func durStat(ds []time.Duration) stat {
	if len(ds) == 0 {
		return stat{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var med time.Duration
	if n := len(s); n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

func (s stat) String() string {
	return fmt.Sprintf("%s [%s–%s]", ms(s.med), ms(s.min), ms(s.max))
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	f := float64(d) / 1e6
	switch {
	case f < 10:
		return fmt.Sprintf("%.2f", f)
	case f < 100:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.0f", f)
}

func (s *series) walls() stat {
	var ds []time.Duration
	for _, x := range s.samples {
		ds = append(ds, x.wall)
	}
	return durStat(ds)
}

func (s *series) cpus() stat {
	var ds []time.Duration
	for _, x := range s.samples {
		ds = append(ds, x.cpu)
	}
	return durStat(ds)
}

// rss returns the smallest and largest peak RSS in MiB.
func (s *series) rssRange() (lo, hi float64) {
	for i, x := range s.rssKiB {
		v := float64(x) / 1024
		if i == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return
}

func sortDur(s []time.Duration) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }
