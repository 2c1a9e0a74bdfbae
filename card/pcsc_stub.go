package card

import "errors"

// newPCSCConnector reaches pcscd. Until the PC/SC client is wired in, the
// backend only works with an explicit Options.Connector.
func newPCSCConnector() (Connector, error) {
	return nil, errors.New("PC/SC support is not available in this build: pass a Connector")
}
