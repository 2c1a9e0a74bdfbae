package main

import (
	"fmt"

	"github.com/keyunlock/keyunlock/card/vpcd"
)

// newCard builds the card vcard serves.
//
// Until the OpenPGP card simulator (card/sim) is available this is
// vpcd.BasicCard, which answers SELECT with 90 00 and keeps no state.
// card/sim replaces the body with:
//
//	q, err := sim.ParseQuirks(quirks); if err != nil { return nil, err }
//	return sim.New(stateDir, sim.Options{Quirks: q})
func newCard(stateDir, quirks string) (vpcd.Card, error) {
	if quirks != "" {
		return nil, fmt.Errorf("-quirks %q: the basic card simulates no quirks", quirks)
	}
	return &vpcd.BasicCard{}, nil
}
