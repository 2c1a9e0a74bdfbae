package main

import (
	"github.com/keyunlock/keyunlock/card/sim"
	"github.com/keyunlock/keyunlock/card/vpcd"
)

// newCard builds the card vcard serves: the OpenPGP card simulator with its
// state in stateDir and the quirks of the -quirks list (see
// sim.ParseQuirks for the names).
func newCard(stateDir, quirks string) (vpcd.Card, error) {
	q, err := sim.ParseQuirks(quirks)
	if err != nil {
		return nil, err
	}
	return sim.New(stateDir, sim.Options{Quirks: q})
}
